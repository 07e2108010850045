/**
 * The longest wait between two attempts to reach the broker (a replica's reconnect, the time keeper's,
 * the first declare at start). The waits double from their start (1 s, 2 s, 4 s) and then stay here: a
 * broker restart takes a few seconds to ten, and with a 30 s cap a broker back after 8 s was
 * reconnected to only 15 s after it went away, and one back after 16 s only at 31 s. An attempt on a
 * broker that is down costs it nothing but a refused TCP connection.
 */
export const RECONNECT_MAX_MS = 5_000;
