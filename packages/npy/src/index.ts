export * from "./codec-only.js";
export {
  type NpyFileInfo,
  readNpy,
  readNpyHeader,
  readNpyHeaderSync,
  readNpySync,
  type WriteOptions,
  writeNpy,
  writeNpySync,
} from "./node.js";
export { NpyStreamWriter, type NpyStreamWriterOptions } from "./stream.js";
