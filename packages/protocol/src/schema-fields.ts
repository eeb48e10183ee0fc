import { z } from 'zod';
import { describeValue } from './errors.ts';

/**
 * A whole number in `[minimum, maximum]` whose every failure reads the same:
 * "Expected `slots` to be an integer 1-64, got `0` (number)".
 */
export function integerInRange(name: string, minimum: number, maximum: number) {
  const error = (issue: { input: unknown }) =>
    `Expected \`${name}\` to be an integer ${minimum}-${maximum}, got ${describeValue(issue.input)}`;
  return z.number({ error }).int({ error }).min(minimum, { error }).max(maximum, { error });
}

/** A number in `[minimum, maximum]`: "Expected `topP` to be a number 0-1, got `2` (number)". */
export function numberInRange(name: string, minimum: number, maximum: number) {
  const error = (issue: { input: unknown }) =>
    `Expected \`${name}\` to be a number ${minimum}-${maximum}, got ${describeValue(issue.input)}`;
  return z.number({ error }).min(minimum, { error }).max(maximum, { error });
}
