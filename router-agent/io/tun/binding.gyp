{
  "targets": [
    {
      "target_name": "io",
      "sources": ["addon.c", "tun.c", "offload.c", "udp.c", "aead.c", "fastpath.c", "fastpath-program.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
