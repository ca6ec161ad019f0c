/**
 * The UnifyWeaver Q-A data folder (LDAKIT_UNIFYWEAVER_DATA), or undefined, with the reason and
 * `standIn` printed, when the variable is unset. Throws when the value names no folder.
 */
export declare function unifyWeaverData(standIn: string): string | undefined;
