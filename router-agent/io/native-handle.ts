// The addon object behind a native port, for the native fast path
// (fast-path.ts) only: a symbol keeps it out of the ports' public API.
export const NATIVE_HANDLE = Symbol('switchback.nativeHandle');

export interface HasNativeHandle {
  [NATIVE_HANDLE](): object;
}
