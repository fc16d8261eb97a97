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
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>

#include "addon.h"
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
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

#define RECORD_RING (1 << 17)    // finished connects not yet drained: 6 s at 20 000/s
// Busy-poll this close to a start. Sleeping to within 5 µs made late starts 3–10× more frequent at
// 20 000/s here (each wake-up waits for the scheduler); spinning the last 100 µs matches cpaced.
#define SPIN_US 100.0
#define MAX_WAIT_US 2000.0       // look at the stop flag and at newly fed starts this often
#define EVENTS_PER_WAIT 256
// At most this many starts between two looks at completions: a burst of 1000 launched in one go
// (~12 ms of connect() calls) would charge its first connects for the launches behind them.
#define LAUNCHES_PER_POLL 16

typedef struct {
  int fd;  // -1 while the slot is free
  // Bumped at every reuse and carried in the epoll event: an event for a socket closed since (a
  // registration can outlive close() when a forked child shares the socket) is recognised and ignored.
  uint32_t generation;
  int older, newer;  // in-flight list in start order (deadlines ascend: one timeout for all)
  double intended_us, started_us;
} Slot;

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

  pthread_t thread;
  int thread_started, joined;
  pthread_mutex_t lock;
  // Under lock: the schedule JavaScript has fed, the records it has not drained, the loop's progress.
  double *schedule;  // SCHEDULE_FIELDS per start (addon.h), ring indexed by connect number
  long scheduled;
  double *records;
  long records_written, records_read;
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
  int epoll_fd;
  int has_pwait2;
} Run;

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
static void push_record(Run *run, double outcome, double lag_us, double from_start_us, double end_us) {
  for (;;) {
    pthread_mutex_lock(&run->lock);
    if (run->records_written - run->records_read < RECORD_RING) {
      double *record = run->records + (run->records_written % RECORD_RING) * RECORD_FIELDS;
      record[0] = outcome;
      record[1] = lag_us;
      record[2] = from_start_us;
      record[3] = (end_us - run->t0_us) / 1000;
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

// Closes nothing: the caller has closed slot->fd. Frees the slot for the next connect.
static void unlink_slot(Run *run, int index) {
  Slot *slot = &run->slots[index];
  slot->fd = -1;
  if (slot->older >= 0) run->slots[slot->older].newer = slot->newer;
  else run->oldest = slot->newer;
  if (slot->newer >= 0) run->slots[slot->newer].older = slot->older;
  else run->newest = slot->older;
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

// A connect that ended within launch() (connected at once, or refused by the kernel): recorded now.
static void record_ended_now(Run *run, int outcome, double lag_us, double started_us) {
  double done = now_us();
  push_record(run, outcome, lag_us, done - started_us, done);
}

// --source: binds to the address with this port (0: the kernel picks). 0, or the errno.
static int bind_source(Run *run, int fd, int source_index, int port) {
  // As Node's bind does (libuv sets it): a port whose old connection sits in TIME_WAIT can be reused.
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return errno;
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
      record_ended_now(run, errno, lag_us, started_us);
      return;
    }
    int may_retry = source_index >= 0 && port > 0 && !retried;
    error = source_index >= 0 ? bind_source(run, fd, source_index, retried ? 0 : port) : 0;
    if (error == 0) {
      if (connect(fd, (struct sockaddr *)&run->to, run->to_length) == 0) {
        record_ended_now(run, 0, lag_us, started_us);
        close_connected(run, fd);
        return;
      }
      error = errno;
      // EINTR: the connect goes on in the background, as with EINPROGRESS (connect(2)).
      if (error == EINPROGRESS || error == EINTR) break;
    }
    close(fd);
    if (may_retry && port_was_taken(error)) continue;  // same attempt, same clock: only the port changes
    record_ended_now(run, error, lag_us, started_us);
    return;
  }
  int index = run->free_slots[--run->free_count];
  Slot *slot = &run->slots[index];
  slot->generation++;
  // One event per registration: a registration that outlives close() cannot fire again and again.
  struct epoll_event event = {.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = ((uint64_t)slot->generation << 32) | (uint32_t)index};
  if (epoll_ctl(run->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    // No room to watch it (max_user_watches, memory): it would only ever time out, so say why now.
    error = errno;
    close(fd);
    run->free_slots[run->free_count++] = index;
    record_ended_now(run, error, lag_us, started_us);
    return;
  }
  slot->fd = fd;
  slot->intended_us = intended_us;
  slot->started_us = started_us;
  slot->older = run->newest;
  slot->newer = -1;
  if (run->newest >= 0) run->slots[run->newest].newer = index;
  else run->oldest = index;
  run->newest = index;
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

static void *connect_loop(void *argument) {
  Run *run = argument;
  struct epoll_event events[EVENTS_PER_WAIT];
  long launched = 0, scheduled = 0;
  int in_flight = 0;
  double last_start_ms = 0;
  int loop_errno = 0;
  // The default 50 µs timer slack would make every sleep up to 50 µs late at 20 000 starts/s.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  run->has_pwait2 = 1;
  for (;;) {
    pthread_mutex_lock(&run->lock);
    scheduled = run->scheduled;
    run->launched = launched;
    run->in_flight = in_flight;
    run->last_start_ms = last_start_ms;
    pthread_mutex_unlock(&run->lock);
    if (stop_requested(run)) break;

    double now = now_us(), next_start_us = -1;
    int launched_now = 0;
    while (launched < scheduled && in_flight < run->concurrency) {
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
      int before = run->free_count;
      launch(run, intended_us, now, (int)start[1], (int)start[2]);
      launched++;
      launched_now++;
      if (run->free_count < before) in_flight++;
      last_start_ms = (now - run->t0_us) / 1000;
      now = now_us();
    }
    if (launched >= run->total && in_flight == 0) break;

    // Expire connects past their deadline (the oldest first: every connect has the same timeout).
    while (run->oldest >= 0 && run->slots[run->oldest].started_us + run->timeout_us <= now) {
      int index = run->oldest;
      Slot *slot = &run->slots[index];
      close(slot->fd);
      push_record(run, OUTCOME_TIMEOUT, slot->started_us - slot->intended_us, now - slot->started_us, now);
      unlink_slot(run, index);
      in_flight--;
    }

    // Sleep until the next start, the oldest deadline or MAX_WAIT_US, whichever comes first.
    double wake_us = now + MAX_WAIT_US;
    if (next_start_us >= 0 && next_start_us < wake_us) wake_us = next_start_us;
    if (run->oldest >= 0) {
      double deadline = run->slots[run->oldest].started_us + run->timeout_us;
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
      uint32_t index = (uint32_t)events[i].data.u64, generation = (uint32_t)(events[i].data.u64 >> 32);
      if (index >= (uint32_t)run->concurrency) continue;
      Slot *slot = &run->slots[index];
      if (slot->fd < 0 || slot->generation != generation) continue;  // its socket was closed since
      int error = 0;
      socklen_t length = sizeof error;
      if (getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      push_record(run, error, slot->started_us - slot->intended_us, done - slot->started_us, done);
      if (error == 0) close_connected(run, slot->fd);
      else close(slot->fd);
      unlink_slot(run, (int)index);
      in_flight--;
    }
  }

  // Stopped early: what is still connecting is abandoned (its start counts, its end does not).
  double now = now_us();
  while (run->oldest >= 0) {
    int index = run->oldest;
    Slot *slot = &run->slots[index];
    close(slot->fd);
    push_record(run, OUTCOME_PENDING, slot->started_us - slot->intended_us, now - slot->started_us, now);
    unlink_slot(run, index);
  }
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

// ---- Node-API surface -------------------------------------------------------------------------

// Ends a thread nobody will drain any more (a run garbage-collected or a Node environment ending).
static void abandon_thread(Run *run) {
  if (run->thread_started && !run->joined) {
    __atomic_store_n(&run->abandoned, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&run->stop_requested, 1, __ATOMIC_RELEASE);
    pthread_join(run->thread, NULL);
    run->joined = 1;
  }
}

// A worker thread terminated mid-run: the loop thread must be gone before Node frees the end
// callback it is about to call (cleanup hooks run newest first, so this one before that one's).
static void stop_at_env_cleanup(void *data) {
  Run *run = data;
  run->cleanup_hook_done = 1;
  abandon_thread(run);
}

static void release_run(Run *run) {
  abandon_thread(run);
  // The end callback is released by the loop thread only. A run that never started keeps it (it is
  // unref'd) until Node cleans it up at exit: releasing it from here, while Node shuts down, aborts.
  if (run->epoll_fd >= 0) close(run->epoll_fd);
  pthread_mutex_destroy(&run->lock);
  free(run->schedule);
  free(run->sources);
  free(run->records);
  free(run->slots);
  free(run->free_slots);
  free(run);
}

static void finalize_run(napi_env env, void *data, void *hint) {
  (void)hint;
  Run *run = data;
  if (!run->cleanup_hook_done) napi_remove_env_cleanup_hook(env, stop_at_env_cleanup, run);
  release_run(run);
}

// Marks the externals this file makes, so that another addon's external is not taken for a run.
static const napi_type_tag RUN_TAG = {0x636f6e6e73746f72ULL, 0x6d2d72756e2d7631ULL};

static Run *run_of(napi_env env, napi_value value) {
  Run *run = NULL;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &RUN_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, (void **)&run) != napi_ok || run == NULL) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: not a run");
    return NULL;
  }
  return run;
}

// The (run) argument of a one-argument call; NULL with a JavaScript error pending otherwise.
static Run *run_argument(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: a run is needed");
    return NULL;
  }
  return run_of(env, argv[0]);
}

// The (run, Float64Array) arguments of feed, drain and progress; false with a JavaScript error pending otherwise.
static int run_and_doubles(napi_env env, napi_callback_info info, const char *what, size_t min_length, Run **run, double **data, size_t *length) {
  size_t argc = 2;
  napi_value argv[2];
  napi_typedarray_type type;
  void *bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, what);
    return 0;
  }
  if ((*run = run_of(env, argv[0])) == NULL) return 0;
  if (napi_get_typedarray_info(env, argv[1], &type, length, &bytes, NULL, NULL) != napi_ok || type != napi_float64_array || *length < min_length) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, what);
    return 0;
  }
  *data = bytes;
  return 1;
}

static int number_property(napi_env env, napi_value object, const char *name, double *out) {
  napi_value value;
  return napi_get_named_property(env, object, name, &value) == napi_ok && napi_get_value_double(env, value, out) == napi_ok;
}

// The optional `sources` array of create(): address literals of the target's family. False with an
// error thrown when one is not.
static int parse_sources(napi_env env, napi_value options, Run *run) {
  bool has = false, is_array = false;
  napi_value list;
  uint32_t count = 0;
  if (napi_has_named_property(env, options, "sources", &has) != napi_ok) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: create() options must be an object");
    return 0;
  }
  if (!has) return 1;
  if (napi_get_named_property(env, options, "sources", &list) != napi_ok || napi_is_array(env, list, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, list, &count) != napi_ok || count == 0 || count > 65536) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: sources must be a non-empty array of addresses");
    return 0;
  }
  run->sources = calloc(count, sizeof *run->sources);
  if (run->sources == NULL) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: out of memory");
    return 0;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    char text[64];
    size_t length = 0;
    int parsed = 0;
    if (napi_get_element(env, list, i, &item) == napi_ok && napi_get_value_string_utf8(env, item, text, sizeof text, &length) == napi_ok) {
      if (run->family == AF_INET6) {
        struct sockaddr_in6 *local = (struct sockaddr_in6 *)&run->sources[i];
        local->sin6_family = AF_INET6;
        parsed = inet_pton(AF_INET6, text, &local->sin6_addr);
      } else {
        struct sockaddr_in *local = (struct sockaddr_in *)&run->sources[i];
        local->sin_family = AF_INET;
        parsed = inet_pton(AF_INET, text, &local->sin_addr);
      }
    }
    if (parsed != 1) {
      napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: a source is not an address literal of the target's family");
      return 0;
    }
  }
  run->source_count = (int)count;
  return 1;
}

// create({family, address, port, closeMode, timeoutMs, concurrency, total, sources?}, onFinished?) → run;
// onFinished() is called (on the event loop) once the loop has ended and recorded everything.
napi_value connect_loop_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_value options = argv[0];
  napi_valuetype callback_type = napi_undefined;
  if (argc >= 2) CHECK(napi_typeof(env, argv[1], &callback_type));
  double family, port, close_mode, timeout_ms, concurrency, total;
  char address[64];
  size_t address_length = 0;
  napi_value address_value;
  if (argc < 1 || !number_property(env, options, "family", &family) || !number_property(env, options, "port", &port) ||
      !number_property(env, options, "closeMode", &close_mode) || !number_property(env, options, "timeoutMs", &timeout_ms) ||
      !number_property(env, options, "concurrency", &concurrency) || !number_property(env, options, "total", &total) ||
      napi_get_named_property(env, options, "address", &address_value) != napi_ok ||
      napi_get_value_string_utf8(env, address_value, address, sizeof address, &address_length) != napi_ok) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: create() needs family, address, port, closeMode, timeoutMs, concurrency, total");
    return NULL;
  }
  // Written so that NaN fails every one of them.
  if (!(concurrency >= 1) || !(total >= 0 && total <= 9e15) || !(port >= 1 && port <= 65535) || !(timeout_ms > 0 && timeout_ms <= 1e9)) {
    napi_throw_range_error(env, NATIVE_ERROR_CODE, "connstorm native: concurrency ≥ 1, total ≥ 0, port 1–65535, timeoutMs > 0");
    return NULL;
  }
  Run *run = calloc(1, sizeof *run);
  if (run == NULL) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: out of memory");
    return NULL;
  }
  run->epoll_fd = -1;
  pthread_mutex_init(&run->lock, NULL);
  run->family = family == 6 ? AF_INET6 : AF_INET;
  run->close_mode = close_mode == CLOSE_FIN ? CLOSE_FIN : CLOSE_RST;
  run->timeout_us = timeout_ms * 1000;
  run->total = (long)total;
  // No more slots than connects (a 10-connect run with --concurrency 100000 needs 10), nor than
  // files this process may open: a connect in flight holds one.
  double slots = concurrency < total ? concurrency : (total > 0 ? total : 1);
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && (double)files.rlim_cur < slots) slots = (double)files.rlim_cur;
  if (slots > INT_MAX) slots = INT_MAX;
  run->concurrency = slots < 1 ? 1 : (int)slots;
  int parsed;
  if (run->family == AF_INET6) {
    struct sockaddr_in6 *to = (struct sockaddr_in6 *)&run->to;
    to->sin6_family = AF_INET6;
    to->sin6_port = htons((uint16_t)port);
    parsed = inet_pton(AF_INET6, address, &to->sin6_addr);
    run->to_length = sizeof *to;
  } else {
    struct sockaddr_in *to = (struct sockaddr_in *)&run->to;
    to->sin_family = AF_INET;
    to->sin_port = htons((uint16_t)port);
    parsed = inet_pton(AF_INET, address, &to->sin_addr);
    run->to_length = sizeof *to;
  }
  if (parsed == 1 && !parse_sources(env, options, run)) {
    release_run(run);
    return NULL;  // parse_sources threw
  }
  run->schedule = malloc((size_t)SCHEDULE_RING * SCHEDULE_FIELDS * sizeof *run->schedule);
  run->records = malloc((size_t)RECORD_RING * RECORD_FIELDS * sizeof *run->records);
  run->slots = malloc((size_t)run->concurrency * sizeof *run->slots);
  run->free_slots = malloc((size_t)run->concurrency * sizeof *run->free_slots);
  run->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (parsed != 1 || !run->schedule || !run->records || !run->slots || !run->free_slots || run->epoll_fd < 0) {
    int bad_address = parsed != 1;
    release_run(run);
    napi_throw_error(env, NATIVE_ERROR_CODE, bad_address ? "connstorm native: not a numeric address" : "connstorm native: cannot allocate the run");
    return NULL;
  }
  for (int i = 0; i < run->concurrency; i++) {
    run->free_slots[i] = run->concurrency - 1 - i;
    run->slots[i].fd = -1;
    run->slots[i].generation = 0;
  }
  run->free_count = run->concurrency;
  run->oldest = run->newest = -1;
  if (callback_type == napi_function) {
    napi_value name;
    if (napi_create_string_utf8(env, "connstorm connect loop finished", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, NULL, NULL, &run->on_finished) != napi_ok) {
      run->on_finished = NULL;
      release_run(run);
      napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: cannot make the loop's end callback");
      return NULL;
    }
    // A run abandoned by JavaScript must not keep the process alive.
    napi_unref_threadsafe_function(env, run->on_finished);
  }
  if (napi_create_external(env, run, finalize_run, NULL, &result) != napi_ok) {
    release_run(run);
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: cannot hand the run to JavaScript");
    return NULL;
  }
  CHECK(napi_type_tag_object(env, result, &RUN_TAG));
  CHECK(napi_add_env_cleanup_hook(env, stop_at_env_cleanup, run));
  return result;
}

// feed(run, Float64Array of SCHEDULE_FIELDS per start) → how many starts it took (the rest must be fed again later)
napi_value connect_loop_feed(napi_env env, napi_callback_info info) {
  napi_value result;
  Run *run;
  double *offsets;
  size_t length;
  if (!run_and_doubles(env, info, "connstorm native: feed(run, Float64Array)", 0, &run, &offsets, &length)) return NULL;
  pthread_mutex_lock(&run->lock);
  long room = run->launched + SCHEDULE_RING - run->scheduled;
  long wanted = run->total - run->scheduled;
  long taken = (long)(length / SCHEDULE_FIELDS);
  if (taken > room) taken = room;
  if (taken > wanted) taken = wanted;
  for (long i = 0; i < taken; i++) {
    double *start = run->schedule + ((run->scheduled + i) % SCHEDULE_RING) * SCHEDULE_FIELDS;
    const double *given = offsets + i * SCHEDULE_FIELDS;
    start[0] = given[0];
    // An index outside the list is a caller's bug: connect unbound rather than read past it.
    start[1] = given[1] >= 0 && given[1] < run->source_count ? given[1] : -1;
    start[2] = given[2] >= 0 && given[2] <= 65535 ? given[2] : 0;
  }
  run->scheduled += taken;
  pthread_mutex_unlock(&run->lock);
  CHECK(napi_create_int64(env, taken, &result));
  return result;
}

// begin(run, t0Us): starts the thread; intended starts count from t0Us (CLOCK_MONOTONIC µs, which
// is process.hrtime()'s clock), so the run's clock is the one JavaScript started. False when no
// thread could be made.
napi_value connect_loop_begin(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Run *run = argc >= 2 ? run_of(env, argv[0]) : NULL;
  if (run == NULL) {
    if (argc < 2) napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: begin(run, t0Us)");
    return NULL;
  }
  if (run->thread_started) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: begin() was already called for this run");
    return NULL;
  }
  CHECK(napi_get_value_double(env, argv[1], &run->t0_us));
  int started = pthread_create(&run->thread, NULL, connect_loop, run) == 0;
  if (started) {
    run->thread_started = 1;
  } else if (run->on_finished != NULL) {
    // No thread will ever release the end callback: release it here, on the JavaScript thread.
    napi_release_threadsafe_function(run->on_finished, napi_tsfn_release);
    run->on_finished = NULL;
  }
  CHECK(napi_get_boolean(env, started, &result));
  return result;
}

// drain(run, Float64Array out) → records copied (RECORD_FIELDS numbers each)
napi_value connect_loop_drain(napi_env env, napi_callback_info info) {
  napi_value result;
  Run *run;
  double *out;
  size_t length;
  if (!run_and_doubles(env, info, "connstorm native: drain(run, Float64Array)", RECORD_FIELDS, &run, &out, &length)) return NULL;
  long capacity = (long)(length / RECORD_FIELDS), copied = 0;
  pthread_mutex_lock(&run->lock);
  while (copied < capacity && run->records_read < run->records_written) {
    memcpy(out + copied * RECORD_FIELDS, run->records + (run->records_read % RECORD_RING) * RECORD_FIELDS, RECORD_FIELDS * sizeof *out);
    run->records_read++;
    copied++;
  }
  pthread_mutex_unlock(&run->lock);
  CHECK(napi_create_int64(env, copied, &result));
  return result;
}

// progress(run, Float64Array(6)): [launched, inFlight, lastStartMs, finished 0/1, undrained records, loop errno]
napi_value connect_loop_progress(napi_env env, napi_callback_info info) {
  Run *run;
  double *out;
  size_t length;
  if (!run_and_doubles(env, info, "connstorm native: progress(run, Float64Array(6))", 6, &run, &out, &length)) return NULL;
  pthread_mutex_lock(&run->lock);
  out[0] = (double)run->launched;
  out[1] = (double)run->in_flight;
  out[2] = run->last_start_ms;
  out[3] = run->finished;
  out[4] = (double)(run->records_written - run->records_read);
  out[5] = run->loop_errno;
  pthread_mutex_unlock(&run->lock);
  return NULL;
}

// stop(run): the loop abandons what is in flight and ends within MAX_WAIT_US
napi_value connect_loop_stop(napi_env env, napi_callback_info info) {
  Run *run = run_argument(env, info);
  if (run == NULL) return NULL;
  __atomic_store_n(&run->stop_requested, 1, __ATOMIC_RELEASE);
  return NULL;
}

// join(run): waits for a finished (or stopped) loop thread; call once progress() says finished
napi_value connect_loop_join(napi_env env, napi_callback_info info) {
  Run *run = run_argument(env, info);
  if (run == NULL) return NULL;
  if (run->thread_started && !run->joined) {
    pthread_join(run->thread, NULL);
    run->joined = 1;
  }
  return NULL;
}
