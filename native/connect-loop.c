// connstorm's native connect loop: connects and closes on a thread of its own, so that a paced
// storm keeps its schedule while Node's event loop records the results. Why and when it is used:
// src/engine/native-connect.ts. This file only connects, times and closes; the schedule comes
// from JavaScript (each start's intended offset and --source address and port, fed in chunks) and
// every outcome goes back to it as a record, so the plan, the errno classes and the histograms
// stay in one place.
//
// One thread per run, one epoll set. Every start that is due is launched at once (nothing else
// runs on this thread, so a catch-up delays no completion handling for long); between starts it
// sleeps with epoll_pwait2's microsecond timeout (epoll_wait's milliseconds where the kernel or a
// seccomp profile lacks it) and busy-polls only the last SPIN_US before a start, so a slow storm
// costs no CPU and a fast one starts on time.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <node_api.h>

#include "addon.h"
#include "connect-loop.h"
#include "tcp-info.h"
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Its number is 441 on every architecture; headers older than Linux 5.11 do not name it.
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

// Busy-poll this close to a start. Sleeping to within 5 µs made late starts 3–10× more frequent at
// 20 000/s here (each wake-up waits for the scheduler); spinning the last 100 µs matches cpaced.
#define SPIN_US 100.0
#define MAX_WAIT_US 2000.0       // look at the stop flag and at newly fed starts this often
#define EVENTS_PER_WAIT 256
// At most this many starts between two looks at completions: a burst of 1000 launched in one go
// (~12 ms of connect() calls) would charge its first connects for the launches behind them.
#define LAUNCHES_PER_POLL 16
// A connect that ended this soon after its SYN left has no retransmit: the first one waits for the
// initial RTO, 1 s (TCP_TIMEOUT_INIT; only a BPF sock_ops program sets it lower, and not below
// this here). Its count is 0 without asking: TCP_INFO costs 1.5–2.3 µs a call here (it takes the
// socket lock and fills ~250 bytes), ~5 % of the ~33 µs the loop has per connect at 30 000/s.
// src/engine/connectors.ts has the same bound for the JavaScript paths.
#define NO_RETRANSMIT_BEFORE_US 200000.0



static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int stop_requested(Run *run) {
  return __atomic_load_n(&run->stop_requested, __ATOMIC_ACQUIRE);
}

static int abandoned(Run *run) {
  return __atomic_load_n(&run->abandoned, __ATOMIC_ACQUIRE);
}

// Hands one finished connect to JavaScript. A full ring (JavaScript stalled for seconds) waits for
// it rather than lose a record; only a run nobody drains any more (released) drops it.
static void push_record(Run *run, double outcome, double lag_us, double from_start_us, double end_us, int retransmits, int probe_outcome, double first_byte_us,
                        int probe_errno) {
  for (;;) {
    pthread_mutex_lock(&run->lock);
    if (run->records_written - run->records_read < RECORD_RING) {
      double *record = run->records + (run->records_written % RECORD_RING) * RECORD_FIELDS;
      record[0] = outcome;
      record[1] = lag_us;
      record[2] = from_start_us;
      record[3] = (end_us - run->t0_us) / 1000;
      record[4] = retransmits;
      record[5] = probe_outcome;
      record[6] = first_byte_us;
      record[7] = probe_errno;
      run->records_written++;
      pthread_mutex_unlock(&run->lock);
      return;
    }
    pthread_mutex_unlock(&run->lock);
    if (abandoned(run)) return;
    struct timespec pause = {0, 200000};
    nanosleep(&pause, NULL);
  }
}

// src/results/recorder.ts records max(1, Math.round(µs)); C's round() agrees for every value here.
static uint64_t whole_us(double us) {
  double rounded = round(us);
  return rounded < 1 ? 1 : (uint64_t)rounded;
}

// The HDR counts index of a value ≥ 1 (addon.h): bucket 0 holds 0–2047 one by one; bucket b ≥ 1
// the values 2^(b+10) … 2^(b+11) − 1 in steps of 2^b, in the top half of its 2048 sub-buckets.
static int hdr_index(uint64_t value) {
  int magnitude = 63 - __builtin_clzll(value | 2047);
  int bucket = magnitude - TALLY_SUB_BUCKET_HALF_COUNT_MAGNITUDE;
  int sub_bucket = (int)(value >> bucket);
  return ((bucket + 1) << TALLY_SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket - (1 << TALLY_SUB_BUCKET_HALF_COUNT_MAGNITUDE);
}

// The lowest value of an HDR counts index (the inverse of hdr_index on bucket bounds).
static uint64_t hdr_lowest(int index) {
  const int half = 1 << TALLY_SUB_BUCKET_HALF_COUNT_MAGNITUDE;
  int bucket = index / half - 1, sub_bucket = index % half + half;
  if (bucket < 0) {
    sub_bucket -= half;
    bucket = 0;
  }
  return (uint64_t)sub_bucket << bucket;
}

// Under lock. The index must be below the tally's capacity.
static void tally_add(Tally *tally, int index) {
  if (tally->counts[index]++ == 0) tally->touched[tally->touched_count++] = index;
}

// Values below this are tallied; a larger one goes as a record (2^41 µs: 25 days).
#define TALLY_LIMIT ((uint64_t)1 << 41)

void tally_latency(Tally *tally, double us) {
  uint64_t value = whole_us(us);
  tally_add(tally, hdr_index(value));
  if (tally->values == 0 || value < tally->min) tally->min = value;
  if (tally->values == 0 || value > tally->max) tally->max = value;
  tally->values++;
}

// Each non-empty bucket goes as (its lowest value, its count), which puts the count in the same HDR
// bucket in JavaScript; the smallest value's bucket goes under that value itself and the largest
// value goes alone, as it was, so min and max come out exact (every other value handed over lies
// between them). A timeline or late-start tally goes as (index, count).
int take_tally(Tally *tally, int kind, double *out, long *room, long *copied) {
  int latency = kind != TALLY_TIMELINE && kind != TALLY_TIMELINE_FAILED && kind != TALLY_LATE_STARTS;
  long needed = tally->touched_count + (latency && tally->values >= 2 ? 1 : 0);
  if (needed > *room) {
    *room = needed;
    return 0;
  }
  int min_index = latency && tally->values > 0 ? hdr_index(tally->min) : -1;
  int max_index = latency && tally->values >= 2 ? hdr_index(tally->max) : -1;
  while (tally->touched_count > 0) {
    int index = tally->touched[--tally->touched_count];
    double count = tally->counts[index];
    tally->counts[index] = 0;
    if (index == max_index) count--;
    if (count == 0) continue;
    double *entry = out + (*copied)++ * TALLY_FIELDS;
    entry[0] = kind;
    entry[1] = !latency ? index : index == min_index ? (double)tally->min : (double)hdr_lowest(index);
    entry[2] = count;
    (*room)--;
  }
  if (max_index >= 0) {
    double *entry = out + (*copied)++ * TALLY_FIELDS;
    entry[0] = kind;
    entry[1] = (double)tally->max;
    entry[2] = 1;
    (*room)--;
  }
  tally->values = 0;
  return 1;
}

// Under lock: room in the timeline tally for this ms. False when there is no memory for it.
static int timeline_room(Tally *tally, long ms) {
  if (ms < tally->capacity) return 1;
  if (ms >= INT_MAX / 2) return 0;
  int capacity = tally->capacity;
  while (capacity <= ms) capacity *= 2;
  uint32_t *counts = realloc(tally->counts, (size_t)capacity * sizeof *counts);
  if (counts == NULL) return 0;
  tally->counts = counts;
  memset(counts + tally->capacity, 0, (size_t)(capacity - tally->capacity) * sizeof *counts);
  int *touched = realloc(tally->touched, (size_t)capacity * sizeof *touched);
  if (touched == NULL) return 0;  // counts grew, touched did not: capacity stays, both still consistent
  tally->touched = touched;
  tally->capacity = capacity;
  return 1;
}

// A connect that connected, with no probe, recorded here instead of as a record: start lag, both
// latencies (from the actual start by its SYN retransmits, addon.h), the late start and the
// timeline, as src/results/recorder.ts and src/engine/storm.ts would (same rounding, same sums).
// False (send a record instead) when the run does not tally, the retransmits are unknown or more
// than the tallies keep, or a value is beyond the tallies. Under lock.
static int tally_connected_locked(Run *run, double lag_us, double from_start_us, double end_us, int retransmits) {
  if (!run->tally || retransmits < 0 || retransmits > TALLY_MAX_RETRANSMITS) return 0;
  double at_ms = (end_us - run->t0_us) / 1000;
  if (whole_us(lag_us) >= TALLY_LIMIT || whole_us(lag_us + from_start_us) >= TALLY_LIMIT || whole_us(from_start_us) >= TALLY_LIMIT || !(at_ms >= 0)) return 0;
  long ms = (long)at_ms;  // floor: the timeline's bins are whole multiples of 10 ms
  if (!timeline_room(&run->tallies[TALLY_TIMELINE], ms)) return 0;
  tally_latency(&run->tallies[TALLY_START_LAG], lag_us);
  tally_latency(&run->tallies[TALLY_FROM_INTENDED], lag_us + from_start_us);
  tally_latency(&run->tallies[retransmits == 0 ? TALLY_FROM_ACTUAL : TALLY_RETRANSMITTED + retransmits - 1], from_start_us);
  tally_add(&run->tallies[TALLY_TIMELINE], (int)ms);
  if (lag_us > 1000) tally_add(&run->tallies[TALLY_LATE_STARTS], 0);
  return 1;
}

// Under lock: the tally of failures with this errno (OUTCOME_TIMEOUT for a timeout) and count of
// SYN retransmits (−1: not counted), made at its first use; NULL when TALLY_FAILURE_CLASSES pairs
// are taken already or there is no memory for it.
static Tally *failure_tally(Run *run, int error, int retransmits) {
  for (int i = 0; i < run->failure_classes; i++)
    if (run->failure_errno[i] == error && run->failure_retransmits[i] == retransmits) return &run->failures[i];
  if (run->failure_classes == TALLY_FAILURE_CLASSES) return NULL;
  Tally *tally = &run->failures[run->failure_classes];
  tally->counts = calloc(TALLY_HDR_LENGTH, sizeof *tally->counts);
  tally->touched = malloc(TALLY_HDR_LENGTH * sizeof *tally->touched);
  if (tally->counts == NULL || tally->touched == NULL) {
    free(tally->counts);
    free(tally->touched);
    tally->counts = NULL;
    tally->touched = NULL;
    return NULL;
  }
  tally->capacity = TALLY_HDR_LENGTH;
  run->failure_errno[run->failure_classes] = error;
  run->failure_retransmits[run->failure_classes] = retransmits;
  run->failure_classes++;
  return tally;
}

// A connect that failed (error: an errno, or OUTCOME_TIMEOUT), recorded here instead of as a
// record: start lag, late start, its latency from the actual start by (error, retransmits), the
// failed timeline — as src/engine/native-driver.ts records a failure record. False (send a record)
// when the run does not tally, the failure is a reset (connected, then reset: recorded as a
// connect, results/outcome.ts), the retransmits are beyond the tallies, a value is, or no tally
// is left for a new (error, retransmits) pair. Under lock.
static int tally_failed_locked(Run *run, int error, double lag_us, double from_start_us, double end_us, int retransmits) {
  if (!run->tally || error == ECONNRESET || retransmits < -1 || retransmits > TALLY_MAX_RETRANSMITS) return 0;
  double at_ms = (end_us - run->t0_us) / 1000;
  if (whole_us(lag_us) >= TALLY_LIMIT || whole_us(from_start_us) >= TALLY_LIMIT || !(at_ms >= 0)) return 0;
  long ms = (long)at_ms;
  Tally *tally = failure_tally(run, error, retransmits);
  if (tally == NULL || !timeline_room(&run->tallies[TALLY_TIMELINE_FAILED], ms)) return 0;
  tally_latency(&run->tallies[TALLY_START_LAG], lag_us);
  if (lag_us > 1000) tally_add(&run->tallies[TALLY_LATE_STARTS], 0);
  tally_latency(tally, from_start_us);
  tally_add(&run->tallies[TALLY_TIMELINE_FAILED], (int)ms);
  return 1;
}

// src/probe/recorder.ts ACCEPT_WAIT_THRESHOLD_US: a reply this long after the connect was an accept wait.
#define ACCEPT_WAIT_THRESHOLD_US 200000.0

// A probe that ended ok on a connect with no retransmit, tallied instead of sent as a record: the
// connect as tally_connected_locked does, then the first byte as src/probe/recorder.ts records it from
// what native-driver.ts hands it — the same double sums in the same order, so the same whole µs
// (binding.gyp keeps the compiler from fusing them). False (send a record) when the run does not
// tally or a value is beyond the tallies.
static int tally_probe(Run *run, Slot *slot) {
  double lag_us = slot->started_us - slot->intended_us, from_start_us = slot->connected_us - slot->started_us;
  double connected_at_ms = (lag_us + from_start_us) / 1000;
  double responded_at_ms = connected_at_ms + (slot->responded_us - slot->connected_us) / 1000;
  double first_byte_us = responded_at_ms * 1000, after_connect_us = (responded_at_ms - connected_at_ms) * 1000;
  if (!run->tally || whole_us(first_byte_us) >= TALLY_LIMIT || whole_us(after_connect_us) >= TALLY_LIMIT) return 0;
  pthread_mutex_lock(&run->lock);
  if (!tally_connected_locked(run, lag_us, from_start_us, slot->connected_us, 0)) {
    pthread_mutex_unlock(&run->lock);
    return 0;
  }
  tally_latency(&run->tallies[TALLY_FIRST_BYTE], first_byte_us);
  tally_latency(&run->tallies[TALLY_RESPONSE_AFTER_CONNECT], after_connect_us);
  if (after_connect_us >= ACCEPT_WAIT_THRESHOLD_US) tally_latency(&run->tallies[TALLY_ACCEPT_WAIT], after_connect_us);
  pthread_mutex_unlock(&run->lock);
  return 1;
}

// A connect's record when no probe ran on it.
static void push_connect_record(Run *run, double outcome, double lag_us, double from_start_us, double end_us, int retransmits) {
  push_record(run, outcome, lag_us, from_start_us, end_us, retransmits, PROBE_NONE, -1, 0);
}

// Records every connect that ended and waits in run->unrecorded: tallied under one hold of the
// lock, those the tallies cannot take sent as records after it (push_record takes the lock
// itself). Unless `wait`, only when the lock is free: the loop does not wait for JavaScript, whose
// drain holds the lock while it takes the tallies — and a drain the scheduler preempts in the
// middle of a take held it for up to ~4 ms, during which a loop that waited started nothing
// (~125 waits in a 5 s run at 20 000/s; docs/performance.md).
static void record_waiting(Run *run, int wait) {
  if (run->unrecorded_count == 0) return;
  if (wait) pthread_mutex_lock(&run->lock);
  else if (pthread_mutex_trylock(&run->lock) != 0) return;
  int untallied = 0;
  for (int i = 0; i < run->unrecorded_count; i++) {
    Unrecorded *ended = &run->unrecorded[i];
    int tallied = ended->outcome == 0 ? tally_connected_locked(run, ended->lag_us, ended->from_start_us, ended->end_us, ended->retransmits)
                                      : tally_failed_locked(run, ended->outcome, ended->lag_us, ended->from_start_us, ended->end_us, ended->retransmits);
    if (!tallied) run->unrecorded[untallied++] = *ended;
  }
  pthread_mutex_unlock(&run->lock);
  for (int i = 0; i < untallied; i++) {
    Unrecorded *ended = &run->unrecorded[i];
    push_connect_record(run, ended->outcome, ended->lag_us, ended->from_start_us, ended->end_us, ended->retransmits);
  }
  run->unrecorded_count = 0;
}

// A connect that ended without a probe (outcome 0: connected; else its errno or OUTCOME_TIMEOUT):
// recorded at the loop's next look at the lock, with the same values as at once.
static void record_finished(Run *run, int outcome, double lag_us, double from_start_us, double end_us, int retransmits) {
  if (run->unrecorded_count == UNRECORDED_MAX) record_waiting(run, 1);
  run->unrecorded[run->unrecorded_count++] = (Unrecorded){outcome, retransmits, lag_us, from_start_us, end_us};
}

// The slots in use: connecting or probing. Each holds a --concurrency place, as in JavaScript.
#define IN_FLIGHT(run) ((run)->concurrency - (run)->free_count)

// The high bit of an epoll event's data marks a held connection (its index in run->held); the
// others carry a slot's index and (31 bits of) its generation.
#define HELD_TAG (1ULL << 63)
#define GENERATION(slot) ((slot)->generation & 0x7fffffffU)

static uint64_t slot_event_data(Run *run, int index) {
  return ((uint64_t)GENERATION(&run->slots[index]) << 32) | (uint32_t)index;
}

static void list_append(Run *run, int index, int *oldest, int *newest) {
  Slot *slot = &run->slots[index];
  slot->older = *newest;
  slot->newer = -1;
  if (*newest >= 0) run->slots[*newest].newer = index;
  else *oldest = index;
  *newest = index;
}

static void list_remove(Run *run, int index, int *oldest, int *newest) {
  Slot *slot = &run->slots[index];
  if (slot->older >= 0) run->slots[slot->older].newer = slot->newer;
  else *oldest = slot->newer;
  if (slot->newer >= 0) run->slots[slot->newer].older = slot->older;
  else *newest = slot->older;
}

// Closes nothing: the caller has closed (or now holds) slot->fd. Frees the slot for the next connect.
static void unlink_slot(Run *run, int index) {
  Slot *slot = &run->slots[index];
  if (slot->phase == PROBING) list_remove(run, index, &run->probing_oldest, &run->probing_newest);
  else list_remove(run, index, &run->oldest, &run->newest);
  slot->fd = -1;
  run->free_slots[run->free_count++] = index;
}

static void close_connected(Run *run, int fd) {
  if (run->close_mode == CLOSE_RST) {
    // SO_LINGER 0: an RST, so the client keeps no TIME_WAIT and the port range never runs dry.
    struct linger rst = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
  }
  close(fd);
}

// --close hold: keeps fd open in the loop, watched only for its peer's close (then it is closed
// and no longer counted). No JavaScript object per held connection: an int here, a socket in the kernel.
static void hold(Run *run, int fd) {
  int index;
  if (run->held_free_count > 0) {
    index = run->held_free[--run->held_free_count];
  } else {
    if (run->held_size == run->held_capacity) {
      int capacity = run->held_capacity ? run->held_capacity * 2 : 1024;
      int *held = realloc(run->held, (size_t)capacity * sizeof *held);
      if (held != NULL) run->held = held;
      int *held_free = held != NULL ? realloc(run->held_free, (size_t)capacity * sizeof *held_free) : NULL;
      if (held_free != NULL) run->held_free = held_free;
      if (held == NULL || held_free == NULL) {
        close_connected(run, fd);  // no memory to hold it: closed as --close rst would
        return;
      }
      run->held_capacity = capacity;
    }
    index = run->held_size++;
  }
  run->held[index] = fd;
  // Level-triggered: whatever the peer sends is read and dropped until it closes.
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = HELD_TAG | (uint32_t)index};
  epoll_ctl(run->epoll_fd, EPOLL_CTL_MOD, fd, &event);  // failing, it is held unwatched: closed at the end
  __atomic_add_fetch(&run->held_open, 1, __ATOMIC_RELEASE);
}

// A held connection is readable: its peer sent something (dropped) or closed it (closed here too).
static void held_event(Run *run, int index) {
  if (index < 0 || index >= run->held_size || run->held[index] < 0) return;
  unsigned char scratch[512];
  ssize_t got = recv(run->held[index], scratch, sizeof scratch, MSG_DONTWAIT);
  if (got > 0 || (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return;
  close(run->held[index]);
  run->held[index] = -1;
  run->held_free[run->held_free_count++] = index;
  __atomic_sub_fetch(&run->held_open, 1, __ATOMIC_RELEASE);
}

// The probe on a slot has an outcome: one record for the connect and its probe, then the connection
// is closed (--close rst/fin) or held — as src/engine/storm.ts does after a probe, a connection the
// peer has closed or reset is not held.
static void finish_probe(Run *run, int index, int outcome, int error) {
  Slot *slot = &run->slots[index];
  if (outcome != PROBE_OK || slot->responded_us < 0 || slot->retransmits != 0 || !tally_probe(run, slot))
    push_record(run, 0, slot->started_us - slot->intended_us, slot->connected_us - slot->started_us, slot->connected_us, slot->retransmits, outcome,
                slot->responded_us < 0 ? -1 : slot->responded_us - slot->connected_us, error);
  int fd = slot->fd, answered = outcome == PROBE_OK || outcome == PROBE_TIMEOUT;
  unlink_slot(run, index);
  if (!answered) close(fd);
  else if (run->close_mode == CLOSE_HOLD) hold(run, fd);
  else close_connected(run, fd);
}

// The run was stopped while this probe waited: its connect counts, its probe is pending. The caller closes fd.
static void finish_probe_pending(Run *run, int index) {
  Slot *slot = &run->slots[index];
  push_record(run, 0, slot->started_us - slot->intended_us, slot->connected_us - slot->started_us, slot->connected_us, slot->retransmits, PROBE_PENDING,
              slot->responded_us < 0 ? -1 : slot->responded_us - slot->connected_us, 0);
  unlink_slot(run, index);
}

// Writes what is left of the payload and reads what has come, as src/probe/run.ts does on a
// net.Socket: the first byte is the reply's time; with --expect the reply must contain it (a match
// may straddle reads: the last expect_length − 1 bytes are kept). Re-arms the slot while undecided.
static void probe_io(Run *run, int index, double now) {
  Slot *slot = &run->slots[index];
  while (slot->sent < run->payload_length) {
    ssize_t wrote = send(slot->fd, run->payload + slot->sent, run->payload_length - slot->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (wrote >= 0) {
      slot->sent += (size_t)wrote;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    finish_probe(run, index, errno == ECONNRESET || errno == EPIPE ? PROBE_RESET : PROBE_ERROR, errno);
    return;
  }
  for (;;) {
    size_t kept = run->expect != NULL ? slot->tail_length : 0;
    if (kept > 0) memcpy(run->reply, run->tails + (size_t)index * run->expect_length, kept);
    ssize_t got = recv(slot->fd, run->reply + kept, PROBE_READ_BYTES, MSG_DONTWAIT);
    if (got > 0) {
      if (slot->responded_us < 0) slot->responded_us = now;
      if (run->expect == NULL) {
        finish_probe(run, index, PROBE_OK, 0);
        return;
      }
      size_t length = kept + (size_t)got;
      if (memmem(run->reply, length, run->expect, run->expect_length) != NULL) {
        finish_probe(run, index, PROBE_OK, 0);
        return;
      }
      size_t keep = run->expect_length - 1 < length ? run->expect_length - 1 : length;
      memcpy(run->tails + (size_t)index * run->expect_length, run->reply + length - keep, keep);
      slot->tail_length = keep;
      continue;
    }
    if (got == 0) {
      finish_probe(run, index, slot->responded_us < 0 ? PROBE_CLOSED_BEFORE_REPLY : PROBE_UNEXPECTED_REPLY, 0);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    finish_probe(run, index, errno == ECONNRESET || errno == EPIPE ? PROBE_RESET : PROBE_ERROR, errno);
    return;
  }
  struct epoll_event event = {.events = EPOLLIN | EPOLLONESHOT | (slot->sent < run->payload_length ? EPOLLOUT : 0), .data.u64 = slot_event_data(run, index)};
  if (epoll_ctl(run->epoll_fd, EPOLL_CTL_MOD, slot->fd, &event) != 0) finish_probe(run, index, PROBE_ERROR, errno);
}

// A connect has completed on a probing run: the slot moves to the probing list (its deadline is
// --probe-timeout after now) and the probe starts.
static void start_probe(Run *run, int index, double now, int retransmits) {
  Slot *slot = &run->slots[index];
  list_remove(run, index, &run->oldest, &run->newest);
  slot->phase = PROBING;
  slot->connected_us = now;
  slot->responded_us = -1;
  slot->retransmits = retransmits;
  slot->sent = 0;
  slot->tail_length = 0;
  list_append(run, index, &run->probing_oldest, &run->probing_newest);
  probe_io(run, index, now);
}

// A connect that ended within launch() (connected at once, or refused by the kernel): recorded now,
// with its retransmits when a SYN left (fd ≥ 0), unknown (−1) when none did.
static void record_ended_now(Run *run, int outcome, double lag_us, double started_us, int fd) {
  double done = now_us();
  record_finished(run, outcome, lag_us, done - started_us, done, fd >= 0 ? 0 : -1);  // at once: no retransmit
}

// --source: binds to the address with this port (0: the kernel picks). 0, or the errno.
static int bind_source(Run *run, int fd, int source_index, int port) {
  // An explicit port, as Node's bind does (libuv sets it): a port whose old connection sits in
  // TIME_WAIT can be reused. Not for a kernel-picked one: with SO_REUSEADDR the kernel may pick a
  // port another of our connections to the same target holds, and connect() then fails with
  // EADDRNOTAVAIL; without it, it picks a port nobody has bound.
  int on = 1;
  if (port != 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return errno;
  struct sockaddr_storage local = run->sources[source_index];
  socklen_t length;
  if (run->family == AF_INET6) {
    ((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)port);
    length = sizeof(struct sockaddr_in6);
  } else {
    ((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)port);
    length = sizeof(struct sockaddr_in);
  }
  return bind(fd, (struct sockaddr *)&local, length) == 0 ? 0 : errno;
}

// An explicit source port that someone else holds: a kernel-picked one may do (source-binding.ts).
static int port_was_taken(int error) {
  return error == EADDRINUSE || error == EADDRNOTAVAIL;
}

// Starts one connect (bound to a source when source_index ≥ 0); a connect the kernel refuses at
// once is recorded at once. A taken explicit port is retried once with a kernel-picked one.
static void launch(Run *run, double intended_us, double started_us, int source_index, int port) {
  double lag_us = started_us - intended_us;
  int fd, error;
  for (int retried = 0;; retried = 1) {
    fd = socket(run->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      record_ended_now(run, errno, lag_us, started_us, -1);
      return;
    }
    int may_retry = source_index >= 0 && port > 0 && !retried;
    error = source_index >= 0 ? bind_source(run, fd, source_index, retried ? 0 : port) : 0;
    if (error == 0) {
      if (connect(fd, (struct sockaddr *)&run->to, run->to_length) == 0) {
        // Connected at once: a probe or a hold goes on through the slot (its EPOLLOUT fires at once).
        if (run->probe || run->close_mode == CLOSE_HOLD) break;
        record_ended_now(run, 0, lag_us, started_us, fd);
        close_connected(run, fd);
        return;
      }
      error = errno;
      // EINTR: the connect goes on in the background, as with EINPROGRESS (connect(2)).
      if (error == EINPROGRESS || error == EINTR) break;
    }
    close(fd);
    if (may_retry && port_was_taken(error)) continue;  // same attempt, same clock: only the port changes
    record_ended_now(run, error, lag_us, started_us, -1);  // refused before any SYN left
    return;
  }
  int index = run->free_slots[--run->free_count];
  Slot *slot = &run->slots[index];
  slot->generation++;
  slot->phase = CONNECTING;
  // One event per registration: a registration that outlives close() cannot fire again and again.
  struct epoll_event event = {.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = slot_event_data(run, index)};
  if (epoll_ctl(run->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    // No room to watch it (max_user_watches, memory): it would only ever time out, so say why now.
    error = errno;
    int retransmits = tcp_info_syn_retransmits(fd);
    close(fd);
    run->free_slots[run->free_count++] = index;
    double done = now_us();
    push_connect_record(run, error, lag_us, done - started_us, done, retransmits);
    return;
  }
  slot->fd = fd;
  slot->intended_us = intended_us;
  slot->started_us = started_us;
  list_append(run, index, &run->oldest, &run->newest);
}

// Waits up to wait_us for completions; the number of events, or -1 (errno set) when waiting itself
// fails in a way a retry cannot mend.
static int wait_for_events(Run *run, struct epoll_event *events, double wait_us) {
  if (wait_us < 0) wait_us = 0;
  struct timespec timeout = {(time_t)(wait_us / 1e6), 0};
  timeout.tv_nsec = (long)((wait_us - timeout.tv_sec * 1e6) * 1000);
  if (run->has_pwait2) {
    // Called by number: a C library older than glibc 2.35 has no wrapper for it.
    int ready = (int)syscall(SYS_epoll_pwait2, run->epoll_fd, events, EVENTS_PER_WAIT, &timeout, NULL, (size_t)0);
    if (ready >= 0) return ready;
    if (errno == EINTR) return 0;
    if (errno != ENOSYS && errno != EPERM) return -1;
    run->has_pwait2 = 0;  // a kernel before 5.11 or a seccomp profile without it
  }
  // Without it: ppoll waits on the epoll set with the same µs timeout (epoll_wait's whole
  // milliseconds would turn every sub-ms wait into a spin), then the events are taken at once.
  struct pollfd epoll_set = {.fd = run->epoll_fd, .events = POLLIN};
  if (ppoll(&epoll_set, 1, &timeout, NULL) < 0) return errno == EINTR ? 0 : -1;
  int ready = epoll_wait(run->epoll_fd, events, EVENTS_PER_WAIT, 0);
  if (ready < 0 && errno == EINTR) return 0;
  return ready;
}

// While a loop runs, the process's other threads — the event loop that feeds and drains it, V8's
// compiler and collector, samplers — are SCHED_BATCH: a batch thread that wakes never preempts a
// running one, so at 20,000 starts/s a drain (~0.3 ms) waits for a free core instead of taking the
// loop's (docs/performance.md). A loop thread itself is SCHED_OTHER. Unprivileged both ways
// (sched(7): a thread may switch between SCHED_OTHER and SCHED_BATCH at an unchanged nice value);
// where it is refused, nothing changes. The last loop to end puts back what it changed.
#define MAX_DEMOTED 1024
static pthread_mutex_t priority_lock = PTHREAD_MUTEX_INITIALIZER;
static int loops_running;
static pid_t loop_tids[256];
static pid_t demoted[MAX_DEMOTED];
static int demoted_count;

static int is_loop_tid(pid_t tid) {
  for (int i = 0; i < loops_running && i < 256; i++)
    if (loop_tids[i] == tid) return 1;
  return 0;
}

static void set_policy(pid_t tid, int policy) {
  struct sched_param none = {0};
  sched_setscheduler(tid, policy, &none);
}

// Under priority_lock: every thread of the process that is neither a loop nor already batch.
static void demote_others(void) {
  DIR *tasks = opendir("/proc/self/task");
  if (tasks == NULL) return;
  for (struct dirent *entry; (entry = readdir(tasks)) != NULL;) {
    pid_t tid = (pid_t)atoi(entry->d_name);
    if (tid <= 0 || is_loop_tid(tid) || demoted_count == MAX_DEMOTED) continue;
    if (sched_getscheduler(tid) != SCHED_OTHER) continue;
    struct sched_param none = {0};
    if (sched_setscheduler(tid, SCHED_BATCH, &none) == 0) demoted[demoted_count++] = tid;
  }
  closedir(tasks);
}

// Whether this loop keeps the others out of its way: read once, at its start, so that its end
// undoes exactly what its start did. CONNSTORM_LOOP_ALONE=0 leaves every policy alone.
static int loop_started(void) {
  pid_t self = (pid_t)syscall(SYS_gettid);
  set_policy(self, SCHED_OTHER);  // made by a batch thread (a --workers thread), it would be batch too
  const char *alone = getenv("CONNSTORM_LOOP_ALONE");
  if (alone != NULL && strcmp(alone, "0") == 0) return 0;
  pthread_mutex_lock(&priority_lock);
  if (loops_running < 256) loop_tids[loops_running] = self;
  loops_running++;
  demote_others();
  pthread_mutex_unlock(&priority_lock);
  return 1;
}

static void loop_ended(int registered) {
  if (!registered) return;
  pid_t self = (pid_t)syscall(SYS_gettid);
  pthread_mutex_lock(&priority_lock);
  int count = loops_running < 256 ? loops_running : 256;
  for (int i = 0; i < count; i++) {
    if (loop_tids[i] != self) continue;
    loop_tids[i] = loop_tids[count - 1];
    break;
  }
  loops_running--;
  if (loops_running == 0) {
    // Only threads still ours: an ended one's number may belong to another process by now.
    for (int i = 0; i < demoted_count; i++) {
      char path[48];
      snprintf(path, sizeof path, "/proc/self/task/%d", (int)demoted[i]);
      if (access(path, F_OK) == 0 && sched_getscheduler(demoted[i]) == SCHED_BATCH) set_policy(demoted[i], SCHED_OTHER);
    }
    demoted_count = 0;
  }
  pthread_mutex_unlock(&priority_lock);
}

void *connect_loop(void *argument) {
  Run *run = argument;
  int registered = loop_started();
  struct epoll_event events[EVENTS_PER_WAIT];
  long launched = 0, scheduled = 0;
  double last_start_ms = 0;
  int loop_errno = 0;
  // The default 50 µs timer slack would make every sleep up to 50 µs late at 20 000 starts/s.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  // Its own name in top -H, perf and /proc (every other thread of the process is "node"): what
  // runs on its core while it is not running is what docs/performance.md's paced row is about.
  prctl(PR_SET_NAME, "connstorm-loop", 0, 0, 0);
  run->has_pwait2 = 1;
  for (;;) {
    // The progress told and the newly fed starts read only when the lock is free (see
    // record_waiting): a look that finds it taken goes on with the starts it has.
    if (pthread_mutex_trylock(&run->lock) == 0) {
      scheduled = run->scheduled;
      run->launched = launched;
      run->in_flight = IN_FLIGHT(run);
      run->last_start_ms = last_start_ms;
      pthread_mutex_unlock(&run->lock);
    }
    if (stop_requested(run)) break;

    double now = now_us(), next_start_us = -1;
    int launched_now = 0;
    while (launched < scheduled && IN_FLIGHT(run) < run->concurrency) {
      if (launched_now == LAUNCHES_PER_POLL) {
        next_start_us = now;  // still behind: look at completions without sleeping, then go on
        break;
      }
      const double *start = run->schedule + (launched % SCHEDULE_RING) * SCHEDULE_FIELDS;
      double intended_us = run->t0_us + start[0] * 1000;
      if (intended_us > now) {
        next_start_us = intended_us;
        break;
      }
      launch(run, intended_us, now, (int)start[1], (int)start[2]);
      launched++;
      launched_now++;
      last_start_ms = (now - run->t0_us) / 1000;
      now = now_us();
    }
    // Held connections keep the run going until it is stopped (its --max-duration) or the peers close them all.
    if (launched >= run->total && IN_FLIGHT(run) == 0 && run->held_open == 0) break;

    // Expire connects past their deadline (the oldest first: every connect has the same timeout).
    while (run->oldest >= 0 && run->slots[run->oldest].started_us + run->timeout_us <= now) {
      int index = run->oldest;
      Slot *slot = &run->slots[index];
      // Read before close: the SYNs that left are this + 1 (docs/kernel.md).
      int retransmits = tcp_info_syn_retransmits(slot->fd);
      close(slot->fd);
      record_finished(run, OUTCOME_TIMEOUT, slot->started_us - slot->intended_us, now - slot->started_us, now, retransmits);
      unlink_slot(run, index);
    }
    // And probes past --probe-timeout (the same for all: the oldest connect first).
    while (run->probing_oldest >= 0 && run->slots[run->probing_oldest].connected_us + run->probe_timeout_us <= now) finish_probe(run, run->probing_oldest, PROBE_TIMEOUT, 0);

    // What ended is recorded after the starts that were due: a start does not wait for that.
    record_waiting(run, 0);

    // Sleep until the next start, the oldest deadline or MAX_WAIT_US, whichever comes first.
    double wake_us = now + MAX_WAIT_US;
    if (next_start_us >= 0 && next_start_us < wake_us) wake_us = next_start_us;
    if (run->oldest >= 0) {
      double deadline = run->slots[run->oldest].started_us + run->timeout_us;
      if (deadline < wake_us) wake_us = deadline;
    }
    if (run->probing_oldest >= 0) {
      double deadline = run->slots[run->probing_oldest].connected_us + run->probe_timeout_us;
      if (deadline < wake_us) wake_us = deadline;
    }
    int ready = wait_for_events(run, events, wake_us - now - SPIN_US);
    if (ready < 0) {
      loop_errno = errno;  // EBADF, EINVAL …: a bug, reported by JavaScript once the loop ends
      break;
    }
    // One timestamp for the batch: when the kernel said they were done, not when we got to each.
    double done = now_us();
    for (int i = 0; i < ready; i++) {
      uint64_t data = events[i].data.u64;
      if (data & HELD_TAG) {
        held_event(run, (int)(uint32_t)data);
        continue;
      }
      uint32_t index = (uint32_t)data, generation = (uint32_t)(data >> 32);
      if (index >= (uint32_t)run->concurrency) continue;
      Slot *slot = &run->slots[index];
      if (slot->fd < 0 || GENERATION(slot) != generation) continue;  // its socket was closed since
      if (slot->phase == PROBING) {
        probe_io(run, (int)index, done);
        continue;
      }
      int error = 0;
      socklen_t length = sizeof error;
      if (getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      // The kernel's count of this connect's SYN retransmits; kept through a RST or its own
      // ETIMEDOUT (cleared only at connect init and disconnect: docs/kernel.md). Not read for a
      // connect that ended before any retransmit could have left (see NO_RETRANSMIT_BEFORE_US).
      int retransmits = done - slot->started_us < NO_RETRANSMIT_BEFORE_US ? 0 : tcp_info_syn_retransmits(slot->fd);
      if (error == 0 && run->probe) {
        start_probe(run, (int)index, done, retransmits);  // recorded with its probe's outcome
        continue;
      }
      double lag_us = slot->started_us - slot->intended_us;
      record_finished(run, error, lag_us, done - slot->started_us, done, retransmits);
      int fd = slot->fd;
      unlink_slot(run, (int)index);
      if (error != 0) close(fd);
      else if (run->close_mode == CLOSE_HOLD) hold(run, fd);
      else close_connected(run, fd);
    }
  }

  // Stopped early: what is still connecting is abandoned (its start counts, its end does not), a
  // probe still waiting is pending (its connect counts), and what is held is closed with an RST.
  double now = now_us();
  while (run->oldest >= 0) {
    int index = run->oldest;
    Slot *slot = &run->slots[index];
    int retransmits = tcp_info_syn_retransmits(slot->fd);
    close(slot->fd);
    push_connect_record(run, OUTCOME_PENDING, slot->started_us - slot->intended_us, now - slot->started_us, now, retransmits);
    unlink_slot(run, index);
  }
  while (run->probing_oldest >= 0) {
    int index = run->probing_oldest, fd = run->slots[index].fd;
    finish_probe_pending(run, index);
    close(fd);
  }
  // held_open keeps its count: the connections still held when the run was stopped (heldAtEnd).
  struct linger rst = {1, 0};
  for (int i = 0; i < run->held_size; i++) {
    if (run->held[i] < 0) continue;
    setsockopt(run->held[i], SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    close(run->held[i]);
    run->held[i] = -1;
  }
  run->held_size = run->held_free_count = 0;
  record_waiting(run, 1);
  loop_ended(registered);
  pthread_mutex_lock(&run->lock);
  run->launched = launched;
  run->in_flight = 0;
  run->last_start_ms = last_start_ms;
  run->loop_errno = loop_errno;
  run->finished = 1;
  pthread_mutex_unlock(&run->lock);
  if (run->on_finished != NULL) {
    // The thread's last use of it: released here, so it never outlives a Node environment that is
    // shutting down (releasing it from the external's finalizer then aborted the process).
    napi_call_threadsafe_function(run->on_finished, NULL, napi_tsfn_nonblocking);
    napi_release_threadsafe_function(run->on_finished, napi_tsfn_release);
  }
  return NULL;
}
