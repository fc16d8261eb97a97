// For the test suite only (test/helpers/own-namespace.ts): moves the calling thread — a test
// file's main thread, before it starts anything — into a new network namespace, so the storms
// that file runs count their own kernel counters while other files run beside it. Not part of
// connstorm: `--isolate` uses unshare(1) on a process of its own.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>

#include <node_api.h>

// unshareNetwork() → 0, or the errno unshare(2) failed with (EPERM without CAP_SYS_ADMIN).
static napi_value unshare_network(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  int code = unshare(CLONE_NEWNET) == 0 ? 0 : errno;
  napi_create_int32(env, code, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value function;
  if (napi_create_function(env, "unshareNetwork", NAPI_AUTO_LENGTH, unshare_network, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "unshareNetwork", function) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
