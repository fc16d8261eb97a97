// `connstorm watch`'s sampling thread (watch-sampler.c): JavaScript starts it, drains what it
// sampled about ten times a second and stops it (src/watch/native-sampler.ts).
#ifndef CONNSTORM_WATCH_SAMPLER_H
#define CONNSTORM_WATCH_SAMPLER_H
#include <node_api.h>

// At most this many counter names per watch (the watch asks for SERVER_COUNTERS, ten).
#define WATCH_MAX_COUNTERS 32

// watchStart({port, intervalMs, durationMs, counters}) → handle, or null when sock_diag cannot be used
napi_value watch_start(napi_env env, napi_callback_info info);
// watchDrain(handle) → [{t, listeners (null: the same as the sample before), counters?}]
napi_value watch_drain(napi_env env, napi_callback_info info);
// watchStop(handle, interrupt) → 'duration' | 'interrupted', once the thread has ended
napi_value watch_stop(napi_env env, napi_callback_info info);

#endif
