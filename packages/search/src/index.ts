export * from "./core.js";
export {
  discoverProjections,
  type LoadProjectionOptions,
  loadProjection,
  loadProjectionSync,
} from "./load.js";
