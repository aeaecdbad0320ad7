// postject ships no types; the one function release/single-executable.ts uses.
declare module 'postject' {
  /** Injects `resourceData` into the executable `filename` as resource `resourceName`, flipping `sentinelFuse`. */
  export function inject(
    filename: string,
    resourceName: string,
    resourceData: Buffer,
    options?: { sentinelFuse?: string; machoSegmentName?: string; overwrite?: boolean },
  ): Promise<void>;
}
