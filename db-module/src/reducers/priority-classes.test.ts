import { INFERENCE_PRIORITIES, type InferencePriority } from '@clawfleet/protocol';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { PRIORITY_CLASSES } from './accounting.ts';

describe('priority classes', () => {
  it('are the inference priorities of the protocol, in the same order', () => {
    // Compile time: a class protocol has and the module lacks (or the reverse) fails `tsc -b`.
    expectTypeOf<(typeof PRIORITY_CLASSES)[number]>().toEqualTypeOf<InferencePriority>();
    expect([...PRIORITY_CLASSES]).toEqual([...INFERENCE_PRIORITIES]);
  });
});
