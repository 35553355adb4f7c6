{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["tun.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"]
    }
  ]
}
