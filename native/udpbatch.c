// udpbatch: batched UDP receive for the decode workers (src/capture/input/batch-socket.ts).
//
// Node's dgram reads one datagram per recvmsg(2) and calls JavaScript once per datagram,
// with a new Buffer and a new address string each time: at 200k datagrams/s that fixed
// cost, not decoding, is what a decode worker spends most of its time on. Here a worker
// thread owns the socket and asks for up to `max` datagrams per recvmmsg(2) call, copied
// into one buffer it reuses, with their lengths and source addresses in typed arrays.
//
// The worker blocks in poll(2) for at most `timeoutMs` when nothing is waiting: it is a
// thread of its own, and the short timeout lets it answer its messages (stats, stop).
//
// Exports:
//   open(family 4|6, address, port, rcvbuf, reuseport) -> [fd, boundPort, grantedRcvbuf]   (throws "bind: EADDRINUSE" etc.)
//       reuseport 1: SO_REUSEPORT, so several workers' sockets share the port and the kernel
//       spreads exporters over them by a hash of the 4-tuple (an exporter stays on one).
//   recv(fd, data Uint8Array, lens Int32Array, addrs Uint8Array, slot, max, timeoutMs) -> count
//       datagram i is data[i*slot, i*slot+lens[i]); addrs[i*20]: family (4|6), addrs[i*20+2..4]: port
//       (big-endian), addrs[i*20+4..20]: address (IPv4 in the first 4 bytes). A datagram longer
//       than `slot` is truncated: lens[i] is then -(its real length).
//   wait(fds Int32Array, timeoutMs) -> whether any is readable (poll(2) over several sockets)
//   close(fd)
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[128];
  const char *code = err == EADDRINUSE      ? "EADDRINUSE"
                     : err == EACCES        ? "EACCES"
                     : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL"
                     : err == EAFNOSUPPORT  ? "EAFNOSUPPORT"
                     : err == EINVAL        ? "EINVAL"
                                            : NULL;
  if (code)
    snprintf(msg, sizeof msg, "%s: %s", what, code);
  else
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t family = 4, port = 0, rcvbuf = 0, reuse = 0;
  char addr[64];
  size_t alen = 0;
  if (argc < 4 || !get_i32(env, argv[0], &family) || !get_i32(env, argv[2], &port) || !get_i32(env, argv[3], &rcvbuf) ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(family, address, port, rcvbuf, reuseport)");
    return NULL;
  }
  if (argc >= 5) get_i32(env, argv[4], &reuse);
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (reuse) {
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "SO_REUSEPORT", e);
    }
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (family == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1) {
      close(fd);
      napi_throw_error(env, NULL, "bad IPv6 address");
      return NULL;
    }
    // Dual stack like Node's udp6 sockets: IPv4 exporters arrive as ::ffff:a.b.c.d.
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sl = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &a->sin_addr) != 1) {
      close(fd);
      napi_throw_error(env, NULL, "bad IPv4 address");
      return NULL;
    }
    sl = sizeof *a;
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_storage got;
  socklen_t gl = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &gl);
  int bound = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&got)->sin_port);
  int granted = 0;
  socklen_t ol = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &ol);
  napi_value out, v;
  napi_create_array_with_length(env, 3, &out);
  napi_create_int32(env, fd, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, bound, &v);
  napi_set_element(env, out, 1, v);
  napi_create_int32(env, granted, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

static void *typed_data(napi_env env, napi_value v, size_t *bytes) {
  napi_typedarray_type t;
  size_t len, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &len, &data, &ab, &off) != napi_ok) return NULL;
  size_t el = t == napi_int32_array || t == napi_uint32_array ? 4 : 1;
  *bytes = len * el;
  return data;
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, slot, max, timeout;
  size_t dbytes = 0, lbytes = 0, abytes = 0;
  if (argc < 7 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[4], &slot) || !get_i32(env, argv[5], &max) ||
      !get_i32(env, argv[6], &timeout)) {
    napi_throw_type_error(env, NULL, "recv(fd, data, lens, addrs, slot, max, timeoutMs)");
    return NULL;
  }
  unsigned char *data = typed_data(env, argv[1], &dbytes);
  int32_t *lens = typed_data(env, argv[2], &lbytes);
  unsigned char *addrs = typed_data(env, argv[3], &abytes);
  if (!data || !lens || !addrs || slot <= 0 || max <= 0) {
    napi_throw_type_error(env, NULL, "recv: bad buffers");
    return NULL;
  }
  if (max > MAX_BATCH) max = MAX_BATCH;
  if ((size_t)max * (size_t)slot > dbytes) max = (int32_t)(dbytes / (size_t)slot);
  if ((size_t)max * 4 > lbytes) max = (int32_t)(lbytes / 4);
  if ((size_t)max * 20 > abytes) max = (int32_t)(abytes / 20);
  struct mmsghdr m[MAX_BATCH];
  struct iovec io[MAX_BATCH];
  struct sockaddr_storage from[MAX_BATCH];
  for (int i = 0; i < max; i++) {
    io[i].iov_base = data + (size_t)i * (size_t)slot;
    io[i].iov_len = (size_t)slot;
    memset(&m[i].msg_hdr, 0, sizeof m[i].msg_hdr);
    m[i].msg_hdr.msg_iov = &io[i];
    m[i].msg_hdr.msg_iovlen = 1;
    m[i].msg_hdr.msg_name = &from[i];
    m[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n = recvmmsg(fd, m, (unsigned)max, MSG_DONTWAIT, NULL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && timeout > 0) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout) > 0) n = recvmmsg(fd, m, (unsigned)max, MSG_DONTWAIT, NULL);
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) n = 0;
    else return throw_errno(env, "recvmmsg", errno);
  }
  for (int i = 0; i < n; i++) {
    unsigned len = m[i].msg_len;
    lens[i] = (m[i].msg_hdr.msg_flags & MSG_TRUNC) ? -(int32_t)len : (int32_t)len;
    unsigned char *a = addrs + (size_t)i * 20;
    memset(a, 0, 20);
    if (from[i].ss_family == AF_INET6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&from[i];
      const unsigned char *b = s6->sin6_addr.s6_addr;
      static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (memcmp(b, mapped, 12) == 0) {
        a[0] = 4;
        memcpy(a + 4, b + 12, 4);
      } else {
        a[0] = 6;
        memcpy(a + 4, b, 16);
      }
      memcpy(a + 2, &s6->sin6_port, 2);
    } else {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&from[i];
      a[0] = 4;
      memcpy(a + 4, &s4->sin_addr, 4);
      memcpy(a + 2, &s4->sin_port, 2);
    }
  }
  napi_value out;
  napi_create_int32(env, n, &out);
  return out;
}

static napi_value js_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t bytes = 0;
  int32_t timeout;
  int32_t *fds = argc >= 2 ? typed_data(env, argv[0], &bytes) : NULL;
  if (!fds || !get_i32(env, argv[1], &timeout)) {
    napi_throw_type_error(env, NULL, "wait(fds, timeoutMs)");
    return NULL;
  }
  struct pollfd p[MAX_BATCH];
  size_t n = bytes / 4;
  if (n > MAX_BATCH) n = MAX_BATCH;
  for (size_t i = 0; i < n; i++) {
    p[i].fd = fds[i];
    p[i].events = POLLIN;
    p[i].revents = 0;
  }
  int r = poll(p, n, timeout);
  napi_value out;
  napi_get_boolean(env, r > 0, &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc >= 1 && get_i32(env, argv[0], &fd) && fd >= 0) close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"recv", NULL, js_recv, NULL, NULL, NULL, napi_default, NULL},
      {"wait", NULL, js_wait, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
