/** The life cycle of a physical frame: free, or what it holds. */

export const FrameState = {
  FREE: 0,
  USER: 1,
  PAGECACHE: 2,
  PAGETABLE: 3,
  VMALLOC: 4,
  /** Kernel-owned, never freed in the model: the zero page, kernel image. */
  KERNEL: 5,
} as const;
export type FrameState = (typeof FrameState)[keyof typeof FrameState];
export const FRAME_STATE_NAMES = ["free", "user page", "page-cache page", "page-table page", "vmalloc page", "kernel page"] as const;

