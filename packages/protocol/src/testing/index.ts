import { ClawError } from '../errors.ts';

/**
 * For tests: the ClawError a promise rejects with. Fails the test when it resolves, or rejects
 * with anything but a ClawError, so assertions on `code` never pass by accident.
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<ClawError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClawError) return error;
    throw error;
  }
  throw new Error('expected a rejection with a ClawError, but the promise resolved');
}
