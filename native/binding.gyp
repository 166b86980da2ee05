{
  "targets": [
    {
      "target_name": "bgpsock",
      "sources": ["bgpsock.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
