// The Node-API surface of the native connect loop (connect-loop.c): a run is an external that
// JavaScript creates, feeds with starts, begins, drains of records, stops and joins. The loop
// itself knows nothing of JavaScript values; this file converts and checks every argument.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <node_api.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "addon.h"
#include "connect-loop.h"

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
  free(run->payload);
  free(run->expect);
  free(run->tails);
  free(run->reply);
  free(run->held);
  free(run->held_free);
  for (int kind = 0; kind < TALLY_KINDS; kind++) {
    free(run->tallies[kind].counts);
    free(run->tallies[kind].touched);
  }
  for (int i = 0; i < run->failure_classes; i++) {
    free(run->failures[i].counts);
    free(run->failures[i].touched);
  }
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
  return tagged_external(env, value, &RUN_TAG, "run");
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

// A copy of the bytes of a Uint8Array (or Buffer) property; *length 0 and NULL when absent. False with an error thrown when it is not one.
static int bytes_property(napi_env env, napi_value object, const char *name, unsigned char **out, size_t *length) {
  bool has = false, is_typedarray = false;
  napi_value value;
  napi_typedarray_type type;
  void *data;
  *out = NULL;
  *length = 0;
  if (napi_has_named_property(env, object, name, &has) != napi_ok) return 0;
  if (!has) return 1;
  if (napi_get_named_property(env, object, name, &value) != napi_ok || napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, value, &type, length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array || *length == 0) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: probe payload and expect must be non-empty Uint8Arrays");
    return 0;
  }
  *out = malloc(*length);
  if (*out == NULL) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: out of memory");
    return 0;
  }
  memcpy(*out, data, *length);
  return 1;
}

// The optional `probe` object of create(): {timeoutMs, payload?, expect?} (send: with a payload;
// banner: without). False with an error thrown when it is malformed.
static int parse_probe(napi_env env, napi_value options, Run *run) {
  bool has = false;
  napi_value probe;
  double timeout_ms;
  if (napi_has_named_property(env, options, "probe", &has) != napi_ok || !has) return 1;
  if (napi_get_named_property(env, options, "probe", &probe) != napi_ok || !number_property(env, probe, "timeoutMs", &timeout_ms) ||
      !(timeout_ms > 0 && timeout_ms <= 1e9)) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: probe needs timeoutMs > 0");
    return 0;
  }
  run->probe = 1;
  run->probe_timeout_us = timeout_ms * 1000;
  if (!bytes_property(env, probe, "payload", &run->payload, &run->payload_length)) return 0;
  if (!bytes_property(env, probe, "expect", &run->expect, &run->expect_length)) return 0;
  return 1;
}

// create({family, address, port, closeMode, timeoutMs, concurrency, total, sources?, probe?, tally?}, onFinished?) → run;
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
  run->close_mode = close_mode == CLOSE_FIN || close_mode == CLOSE_HOLD ? (int)close_mode : CLOSE_RST;
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
  if (parsed == 1 && (!parse_sources(env, options, run) || !parse_probe(env, options, run))) {
    release_run(run);
    return NULL;  // parse_sources or parse_probe threw
  }
  // tally: false hands every connect over as a record (the tests compare the two).
  bool tally = true;
  napi_value tally_value;
  bool has_tally = false;
  if (napi_has_named_property(env, options, "tally", &has_tally) == napi_ok && has_tally && napi_get_named_property(env, options, "tally", &tally_value) == napi_ok)
    napi_get_value_bool(env, tally_value, &tally);
  run->tally = tally;
  int tallies_ok = 1;
  for (int kind = 0; kind < TALLY_KINDS; kind++) {
    int capacity = kind == TALLY_LATE_STARTS ? 1 : kind == TALLY_TIMELINE || kind == TALLY_TIMELINE_FAILED ? 65536 : TALLY_HDR_LENGTH;
    run->tallies[kind].counts = calloc((size_t)capacity, sizeof *run->tallies[kind].counts);
    run->tallies[kind].touched = malloc((size_t)capacity * sizeof *run->tallies[kind].touched);
    run->tallies[kind].capacity = capacity;
    if (!run->tallies[kind].counts || !run->tallies[kind].touched) tallies_ok = 0;
  }
  int probe_buffers_ok = tallies_ok;
  if (run->probe) {
    run->reply = malloc(run->expect_length + PROBE_READ_BYTES);
    if (run->expect_length > 0) run->tails = malloc((size_t)run->concurrency * run->expect_length);
    probe_buffers_ok = probe_buffers_ok && run->reply != NULL && (run->expect_length == 0 || run->tails != NULL);
  }
  run->schedule = malloc((size_t)SCHEDULE_RING * SCHEDULE_FIELDS * sizeof *run->schedule);
  run->records = malloc((size_t)RECORD_RING * RECORD_FIELDS * sizeof *run->records);
  run->slots = malloc((size_t)run->concurrency * sizeof *run->slots);
  run->free_slots = malloc((size_t)run->concurrency * sizeof *run->free_slots);
  run->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (parsed != 1 || !run->schedule || !run->records || !run->slots || !run->free_slots || run->epoll_fd < 0 || !probe_buffers_ok) {
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
  run->probing_oldest = run->probing_newest = -1;
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

// take(run, Float64Array out) → entries copied (TALLY_FIELDS numbers each: kind, value, count),
// what the loop tallied since the last take, each count once; −(entries needed) when out cannot
// hold the first tally waiting (a latency tally goes whole or not at all: see take_tally).
napi_value connect_loop_take(napi_env env, napi_callback_info info) {
  napi_value result;
  Run *run;
  double *out;
  size_t length;
  if (!run_and_doubles(env, info, "connstorm native: take(run, Float64Array)", TALLY_FIELDS, &run, &out, &length)) return NULL;
  long room = (long)(length / TALLY_FIELDS), copied = 0, needed = 0;
  pthread_mutex_lock(&run->lock);
  int complete = 1;
  for (int kind = 0; kind < TALLY_KINDS && complete; kind++) {
    long left = room - copied;
    if (!take_tally(&run->tallies[kind], kind, out, &left, &copied)) {
      if (copied == 0) needed = left;
      complete = 0;  // the rest at the next take
    }
  }
  for (int i = 0; i < run->failure_classes && complete; i++) {
    long left = room - copied;
    int kind = TALLY_FAILED_BASE + (run->failure_errno[i] + 1) * 32 + (run->failure_retransmits[i] + 1);
    if (!take_tally(&run->failures[i], kind, out, &left, &copied)) {
      if (copied == 0) needed = left;
      complete = 0;
    }
  }
  pthread_mutex_unlock(&run->lock);
  CHECK(napi_create_int64(env, needed > 0 ? -needed : copied, &result));
  return result;
}

// tallyLatencies(Float64Array µs) → Float64Array of entries (TALLY_FIELDS each) as take() hands a
// latency tally over: the loop's own rounding, bucketing and min/max, on given values, for the tests.
napi_value connect_loop_tally_latencies(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], buffer, result;
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: tallyLatencies(Float64Array)");
    return NULL;
  }
  const double *values = data;
  Tally tally = {.counts = calloc(TALLY_HDR_LENGTH, sizeof(uint32_t)), .touched = malloc(TALLY_HDR_LENGTH * sizeof(int)), .capacity = TALLY_HDR_LENGTH};
  double *entries = malloc((TALLY_HDR_LENGTH + 1) * TALLY_FIELDS * sizeof(double));
  if (tally.counts == NULL || tally.touched == NULL || entries == NULL) {
    free(tally.counts);
    free(tally.touched);
    free(entries);
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: out of memory");
    return NULL;
  }
  for (size_t i = 0; i < length; i++) {
    if (!(values[i] >= 0 && values[i] < 2e12)) continue;  // the loop sends such a value as a record
    tally_latency(&tally, values[i]);
  }
  long room = TALLY_HDR_LENGTH + 1, copied = 0;
  take_tally(&tally, TALLY_FROM_ACTUAL, entries, &room, &copied);
  void *copy;
  napi_status status = napi_create_arraybuffer(env, (size_t)copied * TALLY_FIELDS * sizeof(double), &copy, &buffer);
  if (status == napi_ok) memcpy(copy, entries, (size_t)copied * TALLY_FIELDS * sizeof(double));
  free(tally.counts);
  free(tally.touched);
  free(entries);
  CHECK(status);
  CHECK(napi_create_typedarray(env, napi_float64_array, (size_t)copied * TALLY_FIELDS, buffer, 0, &result));
  return result;
}

// progress(run, Float64Array(PROGRESS_FIELDS)): [launched, inFlight, lastStartMs, finished 0/1, undrained records, loop errno,
// held open (once finished: how many were when it was stopped)]
napi_value connect_loop_progress(napi_env env, napi_callback_info info) {
  Run *run;
  double *out;
  size_t length;
  if (!run_and_doubles(env, info, "connstorm native: progress(run, Float64Array(7))", PROGRESS_FIELDS, &run, &out, &length)) return NULL;
  pthread_mutex_lock(&run->lock);
  out[0] = (double)run->launched;
  out[1] = (double)run->in_flight;
  out[2] = run->last_start_ms;
  out[3] = run->finished;
  out[4] = (double)(run->records_written - run->records_read);
  out[5] = run->loop_errno;
  out[6] = (double)__atomic_load_n(&run->held_open, __ATOMIC_ACQUIRE);
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

// join(run): waits for a finished (or stopped) loop thread and closes its epoll set; call once progress() says finished
napi_value connect_loop_join(napi_env env, napi_callback_info info) {
  Run *run = run_argument(env, info);
  if (run == NULL) return NULL;
  if (run->thread_started && !run->joined) {
    pthread_join(run->thread, NULL);
    run->joined = 1;
  }
  // Its epoll set is no use once the thread has ended: closed now, not when the run is collected,
  // so a finished run holds no descriptor at all.
  if (run->joined && run->epoll_fd >= 0) {
    close(run->epoll_fd);
    run->epoll_fd = -1;
  }
  return NULL;
}
