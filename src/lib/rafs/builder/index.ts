/** Public API of the RAFS builder: build, layers/merge, compaction. */
export { buildRafs, resolveOptions } from './build.ts';
export { applyLayer, loadRafsImage, emptyTree, type LoadedImage } from './layers.ts';
export { mergeRafs, type MergeOptions, type MergeResult } from './merge.ts';
export { compactRafs, planCompaction, blobUsage, type CompactOptions, type CompactResult, type BlobUsage, type BlobDecision, type CompactPlanOptions } from './compact.ts';
export { compressChunk, sectionTarHeader, encodeCiV1, encodeCiV2, NYDUS_ZSTD_LEVEL } from './blob.ts';
export type { RafsBuildOptions, RafsBuildSinks, RafsBuildResult, BuildStats, BuildProgress, BlobRef, ChunkRef, RafsVersion, WhiteoutSpec, Sink } from './types.ts';
