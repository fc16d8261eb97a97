// The addon's entry point: one function table for JavaScript (src/native/addon.ts types it).
#include <stdio.h>

#include "addon.h"
#include "tcp-info.h"
#include "watch-sampler.h"

static napi_value fail(napi_env env) {
  napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: the addon could not set up its exports");
  return NULL;
}

void *tagged_external(napi_env env, napi_value value, const napi_type_tag *tag, const char *what) {
  void *pointer = NULL;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged || napi_get_value_external(env, value, &pointer) != napi_ok || pointer == NULL) {
    char message[96];
    snprintf(message, sizeof message, "connstorm native: not a %s", what);
    napi_throw_type_error(env, NATIVE_ERROR_CODE, message);
    return NULL;
  }
  return pointer;
}

int number_property(napi_env env, napi_value object, const char *name, double *out) {
  napi_value value;
  return napi_get_named_property(env, object, name, &value) == napi_ok && napi_get_value_double(env, value, out) == napi_ok;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct {
    const char *name;
    napi_callback function;
  } functions[] = {
      {"create", connect_loop_create}, {"feed", connect_loop_feed}, {"begin", connect_loop_begin},
      {"drain", connect_loop_drain},   {"progress", connect_loop_progress}, {"stop", connect_loop_stop},
      {"join", connect_loop_join},     {"take", connect_loop_take}, {"tallyLatencies", connect_loop_tally_latencies},     {"listenQueues", listen_queues}, {"tcpInfo", tcp_info_napi}, {"synRetransmits", syn_retransmits_napi},
      {"watchStart", watch_start}, {"watchDrain", watch_drain}, {"watchStop", watch_stop},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value function;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].function, NULL, &function) != napi_ok ||
        napi_set_named_property(env, exports, functions[i].name, function) != napi_ok)
      return fail(env);
  }
  static const struct {
    const char *name;
    int value;
  } numbers[] = {{"ABI", ADDON_ABI}, {"RECORD_FIELDS", RECORD_FIELDS}, {"SCHEDULE_RING", SCHEDULE_RING}, {"SCHEDULE_FIELDS", SCHEDULE_FIELDS}, {"OUTCOME_TIMEOUT", OUTCOME_TIMEOUT},
                 {"OUTCOME_PENDING", OUTCOME_PENDING}, {"CLOSE_RST", CLOSE_RST},       {"CLOSE_FIN", CLOSE_FIN},
                 {"CLOSE_HOLD", CLOSE_HOLD}, {"PROBE_NONE", PROBE_NONE}, {"PROBE_PENDING", PROBE_PENDING}, {"PROGRESS_FIELDS", PROGRESS_FIELDS},
                 {"TALLY_FIELDS", TALLY_FIELDS}, {"TALLY_START_LAG", TALLY_START_LAG}, {"TALLY_FROM_INTENDED", TALLY_FROM_INTENDED},
                 {"TALLY_FROM_ACTUAL", TALLY_FROM_ACTUAL}, {"TALLY_TIMELINE", TALLY_TIMELINE}, {"TALLY_LATE_STARTS", TALLY_LATE_STARTS},
                 {"TALLY_FIRST_BYTE", TALLY_FIRST_BYTE}, {"TALLY_RESPONSE_AFTER_CONNECT", TALLY_RESPONSE_AFTER_CONNECT}, {"TALLY_ACCEPT_WAIT", TALLY_ACCEPT_WAIT},
                 {"TALLY_RETRANSMITTED", TALLY_RETRANSMITTED}, {"TALLY_MAX_RETRANSMITS", TALLY_MAX_RETRANSMITS}, {"TALLY_KINDS", TALLY_KINDS},
                 {"TALLY_TIMELINE_FAILED", TALLY_TIMELINE_FAILED}, {"TALLY_FAILED_BASE", TALLY_FAILED_BASE}};
  napi_value constants;
  if (napi_create_object(env, &constants) != napi_ok) return fail(env);
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    napi_value value;
    if (napi_create_int32(env, numbers[i].value, &value) != napi_ok || napi_set_named_property(env, constants, numbers[i].name, value) != napi_ok)
      return fail(env);
  }
  if (napi_set_named_property(env, exports, "constants", constants) != napi_ok) return fail(env);
  return exports;
}
