/** What the identity's accounting needs from each of its connections. */
export interface LoadedConnection {
  /** Reply bytes written to the socket but not yet taken by the kernel. */
  readonly queuedReplyBytes: number;
  /** Dispatches held frames and reads again if the identity is back under its limits. */
  maybeResume(): void;
}

/**
 * The load one identity puts on the server, over all its connections: requests running and reply
 * bytes its peers have left unread. Limits are per identity, so an agent that opens many
 * connections gets no more of the server than one that opens one, and cannot crowd out others.
 */
export class IdentityLoad<Connection extends LoadedConnection = LoadedConnection> {
  readonly connections = new Set<Connection>();
  inFlight = 0;

  /** Summed on demand: a socket's queue shrinks as the kernel takes bytes, with no event per byte. */
  get queuedReplyBytes(): number {
    let sum = 0;
    for (const connection of this.connections) sum += connection.queuedReplyBytes;
    return sum;
  }

  /** Lets every connection of this identity that waits for room try again. */
  wake(): void {
    for (const connection of this.connections) connection.maybeResume();
  }
}
