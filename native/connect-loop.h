// connstorm's native connect loop: what the loop (connect-loop.c) and its Node-API glue
// (connect-loop-napi.c) share — one run's state, and the thread function.
#ifndef CONNSTORM_CONNECT_LOOP_H
#define CONNSTORM_CONNECT_LOOP_H
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addon.h"

#define RECORD_RING (1 << 17)    // finished connects not yet drained: 6 s at 20 000/s
#define PROBE_READ_BYTES 65536   // read at once from a probed connection (src/probe/run.ts keeps as much for --expect)

// A slot's connection is still connecting, or connected and waiting for its probe's reply.
enum { CONNECTING, PROBING };

typedef struct {
  int fd;  // -1 while the slot is free
  // Bumped at every reuse and carried in the epoll event: an event for a socket closed since (a
  // registration can outlive close() when a forked child shares the socket) is recognised and ignored.
  uint32_t generation;
  int older, newer;  // its list (connecting: start order; probing: connect order): deadlines ascend
  int phase;
  double intended_us, started_us;
  // PROBING only: when it connected and first heard back (−1: not yet), its SYN retransmits, how
  // much of the payload is written, and how many of the last reply bytes are kept for --expect.
  double connected_us, responded_us;
  int retransmits;
  size_t sent, tail_length;
} Slot;

// One tally: counts by index since JavaScript last took them, and which indexes are non-zero; for
// a latency, also the exact smallest and largest value since then (take() hands them over as they
// were, so the histograms' min and max are exact, not bucket bounds).
typedef struct {
  uint32_t *counts;
  int *touched;
  int touched_count, capacity;
  uint64_t min, max;
  long values;
} Tally;

// A connect that ended without a probe, not yet recorded (connect-loop.c record_finished): its
// outcome (0 connected, else its errno or OUTCOME_TIMEOUT) and what its tallies or record need.
typedef struct {
  int outcome, retransmits;
  double lag_us, from_start_us, end_us;
} Unrecorded;
#define UNRECORDED_MAX 4096  // ends waiting for the lock at most: 0.2 s at 20 000/s

typedef struct {
  // Set before the thread starts, then read-only.
  struct sockaddr_storage to;
  socklen_t to_length;
  // --source: the local addresses connects bind to (port set per connect), as the schedule says.
  struct sockaddr_storage *sources;
  int source_count;
  int family, close_mode, concurrency;
  long total;
  double timeout_us;
  // --probe send:/banner: the bytes to write (none for banner), the text the reply must contain
  // (none: any byte will do) and how long to wait for it after the connect.
  int probe;
  unsigned char *payload, *expect;
  size_t payload_length, expect_length;
  double probe_timeout_us;

  pthread_t thread;
  int thread_started, joined;
  pthread_mutex_t lock;
  // Under lock: the schedule JavaScript has fed, the records it has not drained, the loop's progress.
  double *schedule;  // SCHEDULE_FIELDS per start (addon.h), ring indexed by connect number
  long scheduled;
  double *records;
  long records_written, records_read;
  // Under lock too: the connects the loop recorded itself (addon.h TALLY_*); off: every one as a record.
  int tally;
  Tally tallies[TALLY_KINDS];
  // Failed connects by (errno or OUTCOME_TIMEOUT, SYN retransmits): each pair's latency tally (addon.h TALLY_FAILED_BASE).
  int failure_errno[TALLY_FAILURE_CLASSES], failure_retransmits[TALLY_FAILURE_CLASSES], failure_classes;
  Tally failures[TALLY_FAILURE_CLASSES];
  long launched, in_flight;
  double last_start_ms;
  int stop_requested;  // by JavaScript: abandon what is in flight, record it as pending, end
  int abandoned;       // by the finalizer: nobody drains records any more
  int finished;
  int loop_errno;  // an epoll call failed in a way that cannot be waited out: the loop ended early
  int cleanup_hook_done;

  // Told when the loop has finished, so that the run ends then rather than at the next drain.
  napi_threadsafe_function on_finished;

  // The loop thread's own (t0_us is set by begin() before the thread starts).
  double t0_us;
  Slot *slots;
  int *free_slots, free_count, oldest, newest;
  int probing_oldest, probing_newest;
  // --expect: each slot's last expect_length − 1 reply bytes (a match may straddle two reads), and
  // room to read a chunk behind them.
  unsigned char *tails, *reply;
  // --close hold: the descriptors held open, with holes (−1) a free list refills. Under lock:
  // held_open, how many are open (at the end: how many were when the run was stopped).
  int *held, *held_free, held_size, held_capacity, held_free_count;
  long held_open;
  int epoll_fd;
  int has_pwait2;
  Unrecorded unrecorded[UNRECORDED_MAX];
  int unrecorded_count;
} Run;

// The loop thread: launches every start JavaScript fed, records every outcome, until all are done,
// stop is requested or the run is abandoned; then tells `on_finished` (if any) and returns.
void *connect_loop(void *argument);

// Adds a latency of `us` µs to a latency tally (rounded as src/results/recorder.ts does).
void tally_latency(Tally *tally, double us);
// Copies a tally's entries (TALLY_FIELDS each: kind, value, count) into out and empties it: false,
// copying nothing, when fewer than *room entries are left (then *room says how many it needs).
int take_tally(Tally *tally, int kind, double *out, long *room, long *copied);

#endif
