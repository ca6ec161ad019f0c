// the Node.js entry: the kernel may split large calls between helper threads
import "./threads.js";

export * from "./core.js";
export {
  discoverProjections,
  type LoadProjectionOptions,
  loadProjection,
  loadProjectionSync,
} from "./load.js";
