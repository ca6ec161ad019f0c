// The input files the store benchmarks ingest: raw JSON (form A) with `clusters` clusters of one
// answer and `questions` questions each, different in every file so that nothing deduplicates.
const topics = [
  "invoice",
  "router",
  "garden",
  "printer",
  "passport",
  "battery",
  "kettle",
  "bicycle",
];

/** The JSON text of input file number `f`. */
export function rawFile(f, clusters, questions) {
  return JSON.stringify({
    clusters: Array.from({ length: clusters }, (_, c) => {
      const topic = topics[(f + c) % topics.length];
      return {
        answer: `To fix the ${topic} issue ${f}-${c}, reset the ${topic} settings and try again after a minute.`,
        answer_id: `f${f}-c${c}`,
        questions: Array.from(
          { length: questions },
          (_, q) => `How do I solve ${topic} problem number ${c} in case ${q} of file ${f}?`,
        ),
      };
    }),
  });
}

/** The median (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
