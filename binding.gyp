{
  "targets": [
    {
      "target_name": "connstorm",
      "sources": ["native/addon.c", "native/connect-loop.c", "native/connect-loop-napi.c", "native/listen-queues.c", "native/tcp-info.c", "native/watch-sampler.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-ffp-contract=off", "-Werror=implicit-function-declaration"],
      "libraries": ["-lpthread", "-lm"]
    }
  ]
}
