import { LIMITS } from '@clawfleet/db-module';
import { type BusRow, ClawError } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

/** Stimuli from a person get this priority unless told otherwise (0 lowest, 9 highest). */
export const DEFAULT_STIMULUS_PRIORITY = 7;

/**
 * Creates a stimulus as this connection's identity and returns its row (found by creator and text,
 * newest first). `source` says where the person typed it (`cli`, `http`).
 */
export async function createStimulus(
  connection: FleetConnection,
  stimulus: { text: string; priority: number; to: string | undefined; source: string },
): Promise<BusRow> {
  await connection.call('create_stimulus', {
    source: stimulus.source,
    kind: 'message',
    text: stimulus.text,
    priority: stimulus.priority,
    target_agent: stimulus.to ?? null,
  });
  const identity = await connection.identity();
  const mine = (await connection.query('stimulus')).filter(
    (row) => row.created_by === identity && row.text === stimulus.text,
  );
  const newest = mine.sort((a, b) => Number(b.id) - Number(a.id))[0];
  if (!newest) throw new ClawError('INTERNAL', 'The stimulus was accepted but cannot be read back');
  return newest;
}

/** The longest stimulus text the database accepts (characters). */
export const STIMULUS_TEXT_MAX_LENGTH: number = LIMITS.textLength;
/** The longest resolution, reason or other short text the database accepts (characters). */
export const TEXT_MAX_LENGTH: number = LIMITS.textLength;
/** The longest agent name. */
export const NAME_MAX_LENGTH: number = LIMITS.nameLength;
