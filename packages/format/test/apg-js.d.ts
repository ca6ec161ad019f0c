// apg-js ships no type declarations; these cover the part the grammar test uses.
declare module "apg-js" {
  interface ApgGrammarObject {
    readonly rules: unknown[];
  }
  interface ApgApi {
    errors: unknown[];
    generate(): void;
    errorsToAscii(): string;
    toObject(): ApgGrammarObject;
  }
  interface ApgParser {
    parse(grammar: ApgGrammarObject, startRule: string, input: number[]): { success: boolean };
  }
  const apg: {
    apgApi: new (grammar: string) => ApgApi;
    apgLib: {
      parser: new () => ApgParser;
      utils: { stringToChars(text: string): number[] };
    };
  };
  export default apg;
}
