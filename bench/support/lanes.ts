/**
 * Runs `task(index, lane)` for every index 0..count-1 on `lanes` concurrent lanes. A lane takes the
 * next index as soon as it finishes one, so `lanes` tasks stay in flight until the work runs out.
 */
export async function runInLanes(
  lanes: number,
  count: number,
  task: (index: number, lane: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      while (next < count) {
        const index = next++;
        await task(index, lane);
      }
    }),
  );
}
