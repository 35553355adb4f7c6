{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["tun.c", "offload.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    },
    {
      "target_name": "aead",
      "sources": ["aead.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    },
    {
      "target_name": "udp",
      "sources": ["udp.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
