{
  "targets": [
    {
      "target_name": "bgpsock",
      "sources": [
        "bgpsock.c"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-O2"
      ]
    },
    {
      "target_name": "udpbatch",
      "sources": [
        "udpbatch.c"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-O2"
      ]
    }
  ]
}
