/*
 * bgpsock: the socket options Node has no API for, for BGP session security.
 *  - TCP_MD5SIG (RFC 2385): per-peer key on a listening socket (inherited by accepted
 *    sockets) or on an outgoing socket before its SYN leaves.
 *  - GTSM (RFC 5082): IP_TTL/IPV6_UNICAST_HOPS 255 out, IP_MINTTL/IPV6_MINHOPCOUNT 254 in.
 * Outgoing sessions: socket() here, options set, bound to the local address, returned
 * unconnected; JS wraps the fd in a net.Socket and lets Node connect it (non-blocking,
 * on the event loop), so the MD5 key is in place before the SYN.
 * Every function throws a JS Error with errno text on failure; nothing is left half-open.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>

#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif
#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, e;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &e);
  napi_value errno_v;
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, e, "errno", errno_v);
  napi_throw(env, e);
  return NULL;
}

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return -1;
  return 0;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *len) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) return -1;
  if (n >= cap - 1) return -1;
  if (len) *len = n;
  return 0;
}

/* Parse an address for a socket of family sock_family: an IPv4 address on an IPv6
 * socket becomes ::ffff:a.b.c.d (what a dual-stack listener sees). */
static int parse_addr(const char *s, int sock_family, int port, struct sockaddr_storage *ss, socklen_t *sl) {
  memset(ss, 0, sizeof *ss);
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, s, &a4) == 1) {
    if (sock_family == AF_INET6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port);
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&s6->sin6_addr.s6_addr[12], &a4, 4);
      *sl = sizeof *s6;
    } else {
      struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port);
      s4->sin_addr = a4;
      *sl = sizeof *s4;
    }
    return 0;
  }
  if (inet_pton(AF_INET6, s, &a6) == 1) {
    if (sock_family == AF_INET) return -1;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    s6->sin6_addr = a6;
    *sl = sizeof *s6;
    return 0;
  }
  return -1;
}

static int sock_family(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
  return ss.ss_family;
}

/* RFC 2385: key for one peer address; an empty key removes it. */
static int set_md5(int fd, int fam, const char *peer, const char *key, size_t keylen) {
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  socklen_t sl;
  if (keylen > TCP_MD5SIG_MAXKEYLEN) { errno = EINVAL; return -1; }
  if (parse_addr(peer, fam, 0, &sig.tcpm_addr, &sl) != 0) { errno = EINVAL; return -1; }
  sig.tcpm_keylen = (unsigned short)keylen;
  memcpy(sig.tcpm_key, key, keylen);
  return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig);
}

/* RFC 5082 §3: send with TTL 255, accept only TTL >= 256 - hops (254 for one hop). */
static int set_gtsm(int fd, int fam, int minttl) {
  int out = 255;
  if (fam == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &out, sizeof out) != 0) return -1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &minttl, sizeof minttl) != 0) return -1;
    /* IPv4 peers of a dual-stack socket travel as IPv4: set those options too (best effort). */
    (void)setsockopt(fd, IPPROTO_IP, IP_TTL, &out, sizeof out);
    (void)setsockopt(fd, IPPROTO_IP, IP_MINTTL, &minttl, sizeof minttl);
    return 0;
  }
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &out, sizeof out) != 0) return -1;
  return setsockopt(fd, IPPROTO_IP, IP_MINTTL, &minttl, sizeof minttl);
}

/* setMd5(fd, peerAddress, key) — key "" removes the peer's key. */
static napi_value js_set_md5(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv)) return throw_msg(env, "setMd5(fd, peer, key)");
  int fd;
  char peer[64], key[256];
  size_t keylen;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_msg(env, "setMd5: fd must be a number");
  if (get_string(env, argv[1], peer, sizeof peer, NULL)) return throw_msg(env, "setMd5: bad peer address");
  if (get_string(env, argv[2], key, sizeof key, &keylen)) return throw_msg(env, "setMd5: key too long");
  int fam = sock_family(fd);
  if (fam < 0) return throw_errno(env, "getsockname", errno);
  if (set_md5(fd, fam, peer, key, keylen) != 0) return throw_errno(env, "setsockopt TCP_MD5SIG", errno);
  return NULL;
}

/* setGtsm(fd, minTtl) */
static napi_value js_set_gtsm(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv)) return throw_msg(env, "setGtsm(fd, minTtl)");
  int fd, minttl;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &minttl) != napi_ok) {
    return throw_msg(env, "setGtsm: fd and minTtl must be numbers");
  }
  int fam = sock_family(fd);
  if (fam < 0) return throw_errno(env, "getsockname", errno);
  if (set_gtsm(fd, fam, minttl) != 0) return throw_errno(env, "setsockopt IP_MINTTL", errno);
  return NULL;
}

/* socket(peer, localAddress|"", key|"", minTtl|0) -> fd: a non-blocking TCP socket with the
 * options set and bound to localAddress (port 0), not yet connected. */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv)) return throw_msg(env, "socket(peer, local, key, minTtl)");
  char peer[64], local[64], key[256];
  size_t keylen;
  int minttl;
  if (get_string(env, argv[0], peer, sizeof peer, NULL)) return throw_msg(env, "socket: bad peer address");
  if (get_string(env, argv[1], local, sizeof local, NULL)) return throw_msg(env, "socket: bad local address");
  if (get_string(env, argv[2], key, sizeof key, &keylen)) return throw_msg(env, "socket: key too long");
  if (napi_get_value_int32(env, argv[3], &minttl) != napi_ok) return throw_msg(env, "socket: minTtl must be a number");
  struct in6_addr tmp;
  int fam = inet_pton(AF_INET6, peer, &tmp) == 1 ? AF_INET6 : AF_INET;
  int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return throw_errno(env, "socket", errno);
  const char *what = NULL;
  if (keylen > 0 && set_md5(fd, fam, peer, key, keylen) != 0) what = "setsockopt TCP_MD5SIG";
  if (!what && minttl > 0 && set_gtsm(fd, fam, minttl) != 0) what = "setsockopt IP_MINTTL";
  if (!what && local[0]) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(local, fam, 0, &ss, &sl) != 0) { errno = EINVAL; what = "bind: local address of another family"; }
    else if (bind(fd, (struct sockaddr *)&ss, sl) != 0) what = "bind";
  }
  if (what) {
    int err = errno;
    close(fd);
    return throw_errno(env, what, err);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* close(fd): for a socket JS could not wrap. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_msg(env, "close(fd)");
  close(fd);
  return NULL;
}

/* getMinTtl(fd) -> number: for tests and status. */
static napi_value js_get_min_ttl(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (get_args(env, info, 1, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_msg(env, "getMinTtl(fd)");
  int fam = sock_family(fd);
  int v = 0;
  socklen_t l = sizeof v;
  int r = fam == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &v, &l) : getsockopt(fd, IPPROTO_IP, IP_MINTTL, &v, &l);
  if (r != 0) return throw_errno(env, "getsockopt", errno);
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "setMd5", NULL, js_set_md5, NULL, NULL, NULL, napi_default, NULL },
    { "setGtsm", NULL, js_set_gtsm, NULL, NULL, NULL, napi_default, NULL },
    { "socket", NULL, js_socket, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "getMinTtl", NULL, js_get_min_ttl, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
