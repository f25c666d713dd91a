/**
 * Why a worker takes no input although it is there and its history is
 * readable (its profile, or the profile's prompt file, is gone): the
 * server's message, shown where the composer would be. `null` when it
 * takes input.
 */
import type { WorkerDetail } from '../protocol/WorkerDetail';

export function inputBlocked(worker: WorkerDetail | null): string | null {
  const error = worker?.input_error;
  if (!error) return null;
  return error.message || 'This conversation takes no input: its profile is not configured any more.';
}
