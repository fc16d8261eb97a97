// `connstorm watch`'s sampling loop on a thread of its own, so that JavaScript wakes ten times a
// second instead of once per --interval (at 100 Hz a JavaScript loop's wake-ups cost more than the
// reads themselves: docs/result-schema.md, watch files). Each tick, on a fixed grid from the start, it reads the port's
// listeners with one sock_diag dump over a socket kept open (both families in one walk of the
// listening hash, the kernel skipping other ports: docs/kernel.md §18) and, by the rule below,
// the namespace's TCP counters; the samples wait in memory until JavaScript drains them.
//
// Counters rule (as the JavaScript loop had it): read on the first and the last sample, on every
// sample whose listeners are busy (a queue, or drops that moved), otherwise every
// COUNTERS_IDLE_MS; a read is kept in the sample when a counter moved (first and last: always).
#define _GNU_SOURCE
#include "watch-sampler.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addon.h"
#include "listen-queues.h"

#define COUNTERS_IDLE_NS 100000000LL  // 100 ms
#define NAME_LENGTH 64

// One sample as the thread leaves it for JavaScript: its listeners are rows[first .. first + count)
// of the pending rows, its counters values[counters_at .. + counter names) (NaN: not in the kernel's files).
typedef struct {
  double t_ms;
  uint32_t first_row, row_count;
  uint32_t counters_at;
  uint8_t same_listeners;  // the same rows as the sample before (JavaScript keeps that one's)
  uint8_t has_counters;
} Entry;

typedef struct {
  Entry *entries;
  size_t entry_count, entry_capacity;
  struct diag_listener *rows;
  size_t row_count, row_capacity;
  double *values;
  size_t value_count, value_capacity;
} Pending;

typedef struct {
  // Set at the start, then read-only.
  uint16_t port;
  int64_t interval_ns, duration_ns;
  struct timespec grid_start;  // CLOCK_MONOTONIC
  size_t counter_count;
  char counter_names[WATCH_MAX_COUNTERS][NAME_LENGTH];
  int diag_fd;
  int diag_family;  // AF_UNSPEC (one walk for both), or AF_INET then AF_INET6 where the kernel refuses that
  int proc_fds[2];  // /proc/net/netstat, /proc/net/snmp (-1: unreadable)

  // The sampling side's own state (the thread's; before it starts and after it is joined, the caller's).
  uint32_t sequence;
  struct diag_listeners read, before, family_rows;
  int have_before;
  int64_t last_drops;  // -1: none known
  int64_t counters_read_at;
  int have_counters;
  double last_counters[WATCH_MAX_COUNTERS];
  char *proc_text;
  size_t proc_capacity;

  // Shared under `lock`.
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop_requested;
  int finished;     // the thread took the last sample
  int interrupted;  // it ended on a stop request, before the deadline
  Pending pending;

  pthread_t thread;
  int thread_started, joined, cleanup_hook_done;
} Sampler;

static int64_t monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

// Date.now()'s value: whole ms of the wall clock.
static double wall_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (double)((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
}

static int grow(void **array, size_t *capacity, size_t needed, size_t size) {
  if (needed <= *capacity) return 1;
  size_t next = *capacity == 0 ? 64 : *capacity;
  while (next < needed) next *= 2;
  void *grown = realloc(*array, next * size);
  if (grown == NULL) return 0;
  *array = grown;
  *capacity = next;
  return 1;
}

// One dump of the port's listeners into s->read; 0, or -1 when the kernel refused or failed twice
// (a dump that changed under the kernel, NLM_F_DUMP_INTR, is read again once).
static int read_listeners(Sampler *s) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (s->diag_family == AF_UNSPEC) {
      if (diag_dump_listeners(s->diag_fd, ++s->sequence, AF_UNSPEC, s->port, &s->read) == 0) return 0;
      continue;
    }
    if (diag_dump_listeners(s->diag_fd, ++s->sequence, AF_INET, s->port, &s->read) != 0) continue;
    if (diag_dump_listeners(s->diag_fd, ++s->sequence, AF_INET6, s->port, &s->family_rows) != 0) continue;
    if (!grow((void **)&s->read.rows, &s->read.capacity, s->read.count + s->family_rows.count, sizeof *s->read.rows)) return -1;
    memcpy(s->read.rows + s->read.count, s->family_rows.rows, s->family_rows.count * sizeof *s->read.rows);
    s->read.count += s->family_rows.count;
    return 0;
  }
  s->read.count = 0;
  return -1;
}

// The whole of a /proc file (seq_file: read again from offset 0, it is generated anew) into s->proc_text.
static ssize_t read_proc(Sampler *s, int fd) {
  size_t length = 0;
  for (;;) {
    if (length + 4096 > s->proc_capacity && !grow((void **)&s->proc_text, &s->proc_capacity, length + 4096 + 1, 1)) return -1;
    ssize_t got = pread(fd, s->proc_text + length, s->proc_capacity - length - 1, (off_t)length);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) break;
    length += (size_t)got;
  }
  s->proc_text[length] = '\0';
  return (ssize_t)length;
}

// The next whitespace-separated field of `*cursor` within its line; 0 at the end of the line.
static int next_field(const char **cursor, const char **start, size_t *length) {
  const char *c = *cursor;
  while (*c == ' ' || *c == '\t') c++;
  if (*c == '\n' || *c == '\0') {
    *cursor = c;
    return 0;
  }
  *start = c;
  while (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\0') c++;
  *length = (size_t)(c - *start);
  *cursor = c;
  return 1;
}

static const char *next_line(const char *c) {
  while (*c != '\n' && *c != '\0') c++;
  return *c == '\n' ? c + 1 : c;
}

// The header-line/value-line pairs of /proc/net/netstat and /proc/net/snmp ("TcpExt: SyncookiesSent …"
// then "TcpExt: 844 …"), named as nstat names them (section + field), as src/kernel/counters.ts
// parseProcNetCounters reads them: a pair whose value line is not all integers is skipped.
static void parse_counters(const Sampler *s, const char *text, double *values, int *found) {
  for (const char *line = text; *line != '\0';) {
    const char *values_line = next_line(line);
    const char *colon = line;
    while (*colon != ':' && *colon != '\n' && *colon != '\0') colon++;
    const char *value_colon = values_line;
    while (*value_colon != ':' && *value_colon != '\n' && *value_colon != '\0') value_colon++;
    size_t section = (size_t)(colon - line);
    if (*colon != ':' || section == 0 || *value_colon != ':' || (size_t)(value_colon - values_line) != section || memcmp(line, values_line, section) != 0) {
      line = values_line;
      continue;
    }
    // All integers on the value line, or the pair is not one.
    int numeric = 1;
    for (const char *cursor = value_colon + 1, *field; numeric;) {
      size_t length;
      if (!next_field(&cursor, &field, &length)) break;
      for (size_t i = (field[0] == '-' && length > 1) ? 1 : 0; i < length; i++)
        if (field[i] < '0' || field[i] > '9') numeric = 0;
    }
    if (numeric) {
      const char *names = colon + 1, *numbers = value_colon + 1, *name, *number;
      size_t name_length, number_length;
      while (next_field(&names, &name, &name_length) && next_field(&numbers, &number, &number_length)) {
        for (size_t i = 0; i < s->counter_count; i++) {
          const char *wanted = s->counter_names[i];
          if (strncmp(wanted, line, section) == 0 && strlen(wanted) == section + name_length && memcmp(wanted + section, name, name_length) == 0) {
            values[i] = strtod(number, NULL);
            found[i] = 1;
          }
        }
      }
    }
    line = next_line(values_line);
  }
}

// The counters now; 0 when neither file could be read (then the sample has none).
static int read_counters(Sampler *s, double *values) {
  int found[WATCH_MAX_COUNTERS] = {0}, any_file = 0;
  for (int file = 0; file < 2; file++) {
    if (s->proc_fds[file] < 0 || read_proc(s, s->proc_fds[file]) < 0) continue;
    any_file = 1;
    parse_counters(s, s->proc_text, values, found);
  }
  for (size_t i = 0; i < s->counter_count; i++)
    if (!found[i]) values[i] = NAN;
  return any_file;
}

static int same_rows(const struct diag_listeners *a, const struct diag_listeners *b) {
  return a->count == b->count && (a->count == 0 || memcmp(a->rows, b->rows, a->count * sizeof *a->rows) == 0);
}

// One sample: the listeners, the counters by the rule above, into the pending samples.
static void take_sample(Sampler *s, int first, int last) {
  read_listeners(s);  // a failed read is a sample with no listener, as in the JavaScript reader
  double t = wall_ms();
  int64_t now = monotonic_ns();
  int64_t drops = -1;
  int queued = 0;
  for (size_t i = 0; i < s->read.count; i++) {
    if (s->read.rows[i].drops >= 0) drops = (drops < 0 ? 0 : drops) + s->read.rows[i].drops;
    if (s->read.rows[i].queue > 0) queued = 1;
  }
  int busy = drops != s->last_drops || queued;
  s->last_drops = drops;
  double counters[WATCH_MAX_COUNTERS];
  int keep_counters = 0;
  if (first || busy || last || now - s->counters_read_at >= COUNTERS_IDLE_NS) {
    s->counters_read_at = now;
    if (read_counters(s, counters)) {
      int moved = 0;
      for (size_t i = 0; i < s->counter_count; i++)
        // NaN (absent) equals NaN here: a name the kernel lacks never "moves"
        if (!(counters[i] == s->last_counters[i] || (isnan(counters[i]) && isnan(s->last_counters[i])))) moved = 1;
      keep_counters = !s->have_counters || last || moved;
      memcpy(s->last_counters, counters, sizeof counters);
      s->have_counters = 1;
    }
  }
  int same = s->have_before && same_rows(&s->read, &s->before);
  pthread_mutex_lock(&s->lock);
  Pending *p = &s->pending;
  int room = grow((void **)&p->entries, &p->entry_capacity, p->entry_count + 1, sizeof *p->entries) &&
             grow((void **)&p->rows, &p->row_capacity, p->row_count + s->read.count, sizeof *p->rows) &&
             grow((void **)&p->values, &p->value_capacity, p->value_count + s->counter_count, sizeof *p->values);
  if (room) {
    Entry *entry = &p->entries[p->entry_count++];
    *entry = (Entry){.t_ms = t, .first_row = (uint32_t)p->row_count, .row_count = (uint32_t)s->read.count, .same_listeners = (uint8_t)same,
                     .has_counters = (uint8_t)keep_counters, .counters_at = (uint32_t)p->value_count};
    if (!same) {
      memcpy(p->rows + p->row_count, s->read.rows, s->read.count * sizeof *p->rows);
      p->row_count += s->read.count;
    }
    if (keep_counters) {
      memcpy(p->values + p->value_count, counters, s->counter_count * sizeof *p->values);
      p->value_count += s->counter_count;
    }
  }
  pthread_mutex_unlock(&s->lock);
  // Kept for the next sample's comparison (swapped, not copied: both arrays are reused).
  struct diag_listeners swap = s->before;
  s->before = s->read;
  s->read = swap;
  s->have_before = 1;
}

static struct timespec at_ns(const struct timespec *base, int64_t offset_ns) {
  int64_t ns = (int64_t)base->tv_nsec + offset_ns % 1000000000LL;
  struct timespec at = {.tv_sec = base->tv_sec + (time_t)(offset_ns / 1000000000LL) + (time_t)(ns / 1000000000LL), .tv_nsec = ns % 1000000000LL};
  return at;
}

// The ticks on a fixed grid from the start (a slow read does not push the later ones), until the
// deadline or a stop request; a condition variable on CLOCK_MONOTONIC rather than clock_nanosleep so
// that a stop wakes it at once.
static void *sample_loop(void *data) {
  Sampler *s = data;
  int interrupted = 0;
  for (int64_t tick = 1;; tick++) {
    int64_t offset = tick * s->interval_ns;
    int at_deadline = offset >= s->duration_ns;
    if (at_deadline) offset = s->duration_ns;
    struct timespec next = at_ns(&s->grid_start, offset);
    pthread_mutex_lock(&s->lock);
    while (!s->stop_requested && pthread_cond_timedwait(&s->wake, &s->lock, &next) != ETIMEDOUT) {
    }
    interrupted = s->stop_requested;
    pthread_mutex_unlock(&s->lock);
    if (interrupted || at_deadline) break;
    take_sample(s, 0, 0);
  }
  take_sample(s, 0, 1);
  pthread_mutex_lock(&s->lock);
  s->finished = 1;
  s->interrupted = interrupted;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static void join_thread(Sampler *s, int interrupt) {
  if (!s->thread_started || s->joined) return;
  if (interrupt) {
    pthread_mutex_lock(&s->lock);
    s->stop_requested = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
  }
  pthread_join(s->thread, NULL);
  s->joined = 1;
}

// A Node environment ending (process exit, a worker terminated) with the watch still running: the
// thread is stopped and joined, so it never outlives the environment nor holds up the exit.
static void stop_at_env_cleanup(void *data) {
  Sampler *s = data;
  s->cleanup_hook_done = 1;
  join_thread(s, 1);
}

static void free_sampler(Sampler *s) {
  join_thread(s, 1);
  if (s->diag_fd >= 0) close(s->diag_fd);
  for (int file = 0; file < 2; file++)
    if (s->proc_fds[file] >= 0) close(s->proc_fds[file]);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->wake);
  free(s->read.rows);
  free(s->before.rows);
  free(s->family_rows.rows);
  free(s->proc_text);
  free(s->pending.entries);
  free(s->pending.rows);
  free(s->pending.values);
  free(s);
}

static void finalize_sampler(napi_env env, void *data, void *hint) {
  (void)hint;
  Sampler *s = data;
  if (!s->cleanup_hook_done) napi_remove_env_cleanup_hook(env, stop_at_env_cleanup, s);
  free_sampler(s);
}

static const napi_type_tag SAMPLER_TAG = {0x636f6e6e73746f72ULL, 0x6d2d77617463682dULL};

static Sampler *sampler_of(napi_env env, napi_value value) {
  return tagged_external(env, value, &SAMPLER_TAG, "watch sampler");
}

napi_value watch_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], null_value, names, result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_null(env, &null_value));
  double port = 0, interval_ms = 0, duration_ms = 0;
  uint32_t name_count = 0;
  bool is_array = false;
  if (argc < 1 || !number_property(env, argv[0], "port", &port) || !number_property(env, argv[0], "intervalMs", &interval_ms) ||
      !number_property(env, argv[0], "durationMs", &duration_ms) || napi_get_named_property(env, argv[0], "counters", &names) != napi_ok ||
      napi_is_array(env, names, &is_array) != napi_ok || !is_array || napi_get_array_length(env, names, &name_count) != napi_ok ||
      !(port >= 1 && port <= 65535) || !(interval_ms >= 1) || !(duration_ms >= 0) || name_count > WATCH_MAX_COUNTERS) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: watchStart({port, intervalMs, durationMs, counters})");
    return NULL;
  }
  Sampler *s = calloc(1, sizeof *s);
  if (s == NULL) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: watchStart: out of memory");
    return NULL;
  }
  s->port = (uint16_t)port;
  s->interval_ns = (int64_t)(interval_ms * 1e6);
  s->duration_ns = (int64_t)(duration_ms * 1e6);
  s->counter_count = name_count;
  s->last_drops = -1;
  s->proc_fds[0] = s->proc_fds[1] = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wake, &attributes);
  pthread_condattr_destroy(&attributes);
  for (uint32_t i = 0; i < name_count; i++) {
    napi_value name;
    size_t length = 0;
    if (napi_get_element(env, names, i, &name) != napi_ok ||
        napi_get_value_string_utf8(env, name, s->counter_names[i], NAME_LENGTH, &length) != napi_ok || length >= NAME_LENGTH - 1) {
      free_sampler(s);
      napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: watchStart: counters must be names shorter than 63 bytes");
      return NULL;
    }
  }
  // Opened here, on the caller's thread: the socket and the files belong to its network namespace.
  s->diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  s->proc_fds[0] = open("/proc/net/netstat", O_RDONLY | O_CLOEXEC);
  s->proc_fds[1] = open("/proc/net/snmp", O_RDONLY | O_CLOEXEC);
  // Both families in one walk where the kernel takes the older request; else one dump per family.
  s->diag_family = AF_UNSPEC;
  if (s->diag_fd >= 0 && read_listeners(s) != 0) {
    s->diag_family = AF_INET;
    if (read_listeners(s) != 0) {
      close(s->diag_fd);
      s->diag_fd = -1;
    }
  }
  if (s->diag_fd < 0) {
    free_sampler(s);
    return null_value;
  }
  // The first sample now, on this thread: when watchStart returns it is there to drain.
  clock_gettime(CLOCK_MONOTONIC, &s->grid_start);
  take_sample(s, 1, 0);
  if (napi_create_external(env, s, finalize_sampler, NULL, &result) != napi_ok || napi_type_tag_object(env, result, &SAMPLER_TAG) != napi_ok) {
    free_sampler(s);
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: watchStart could not make its handle");
    return NULL;
  }
  // Signals stay with Node's threads: the sampler blocks them all.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  s->thread_started = pthread_create(&s->thread, NULL, sample_loop, s) == 0;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  // Its own name in /proc/PID/task/*/comm: its CPU can be told from Node's threads (bench/watch-cpu.mjs).
  if (s->thread_started) pthread_setname_np(s->thread, "connstorm-watch");
  if (!s->thread_started) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: watchStart could not start its thread");
    return NULL;
  }
  CHECK(napi_add_env_cleanup_hook(env, stop_at_env_cleanup, s));
  return result;
}

static int set_double(napi_env env, napi_value object, const char *name, double number) {
  napi_value value;
  return napi_create_double(env, number, &value) == napi_ok && napi_set_named_property(env, object, name, value) == napi_ok;
}

static napi_value listener_object(napi_env env, const struct diag_listener *row) {
  napi_value listener, host_value, v6only, drops;
  char host[INET6_ADDRSTRLEN] = "";
  inet_ntop(row->family, row->address, host, sizeof host);
  if (napi_create_object(env, &listener) != napi_ok || napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &host_value) != napi_ok ||
      napi_set_named_property(env, listener, "host", host_value) != napi_ok || !set_double(env, listener, "port", row->port) ||
      !set_double(env, listener, "family", row->family == AF_INET6 ? 6 : 4) || !set_double(env, listener, "recvQ", row->queue) ||
      !set_double(env, listener, "sendQ", row->backlog) || napi_get_boolean(env, row->v6only, &v6only) != napi_ok ||
      napi_set_named_property(env, listener, "v6only", v6only) != napi_ok)
    return NULL;
  if (row->drops >= 0 ? napi_create_double(env, (double)row->drops, &drops) != napi_ok : napi_get_null(env, &drops) != napi_ok) return NULL;
  if (napi_set_named_property(env, listener, "drops", drops) != napi_ok) return NULL;
  return listener;
}

napi_value watch_drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sampler *s = argc < 1 ? NULL : sampler_of(env, argv[0]);
  if (s == NULL) return NULL;
  // Taken whole under the lock, built into JavaScript values outside it.
  Pending taken;
  pthread_mutex_lock(&s->lock);
  taken = s->pending;
  s->pending = (Pending){0};
  pthread_mutex_unlock(&s->lock);
  napi_value names[WATCH_MAX_COUNTERS];
  int failed = napi_create_array_with_length(env, taken.entry_count, &result) != napi_ok;
  for (size_t i = 0; i < s->counter_count && !failed; i++) failed = napi_create_string_utf8(env, s->counter_names[i], NAPI_AUTO_LENGTH, &names[i]) != napi_ok;
  for (size_t e = 0; e < taken.entry_count && !failed; e++) {
    const Entry *entry = &taken.entries[e];
    napi_value sample, listeners;
    failed = napi_create_object(env, &sample) != napi_ok || !set_double(env, sample, "t", entry->t_ms);
    if (failed) break;
    if (entry->same_listeners) {
      failed = napi_get_null(env, &listeners) != napi_ok;
    } else {
      failed = napi_create_array_with_length(env, entry->row_count, &listeners) != napi_ok;
      for (uint32_t r = 0; r < entry->row_count && !failed; r++) {
        napi_value listener = listener_object(env, &taken.rows[entry->first_row + r]);
        failed = listener == NULL || napi_set_element(env, listeners, r, listener) != napi_ok;
      }
    }
    failed = failed || napi_set_named_property(env, sample, "listeners", listeners) != napi_ok;
    if (!failed && entry->has_counters) {
      napi_value counters;
      failed = napi_create_object(env, &counters) != napi_ok;
      for (size_t i = 0; i < s->counter_count && !failed; i++) {
        double value = taken.values[entry->counters_at + i];
        napi_value number;
        if (isnan(value)) continue;
        failed = napi_create_double(env, value, &number) != napi_ok || napi_set_property(env, counters, names[i], number) != napi_ok;
      }
      failed = failed || napi_set_named_property(env, sample, "counters", counters) != napi_ok;
    }
    failed = failed || napi_set_element(env, result, (uint32_t)e, sample) != napi_ok;
  }
  free(taken.entries);
  free(taken.rows);
  free(taken.values);
  if (failed) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: watchDrain could not build its result");
    return NULL;
  }
  return result;
}

napi_value watch_stop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Sampler *s = argc < 1 ? NULL : sampler_of(env, argv[0]);
  if (s == NULL) return NULL;
  bool interrupt = true;
  if (argc >= 2) napi_get_value_bool(env, argv[1], &interrupt);
  // interrupt false: the deadline is here or just ahead; the thread ends there by itself.
  join_thread(s, interrupt);
  CHECK(napi_create_string_utf8(env, s->interrupted ? "interrupted" : "duration", NAPI_AUTO_LENGTH, &result));
  return result;
}
