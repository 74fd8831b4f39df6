/*
 * relay_conn.c - the relay's thread and sockets (relay.h): the listening
 * socket, the clients' connections, the connections to replicas (one per
 * address, made on first use) and to the router's server, and the epoll
 * loop that reads them, feeds nghttp2, and writes what it has to send.
 *
 * A round of the loop handles every ready socket, then flushes every
 * session with something to send (one write per connection per round,
 * whatever number of calls it carries), then frees the connections closed
 * during the round.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ip_port.h"
#include "relay_internal.h"

#define RELAY_CONNECT_MS 3000   /* a connect() to a replica, at most */
#define RELAY_IDLE_UP_MS 60000  /* a connection to a replica with no call is closed after */
#define RELAY_READ_CHUNK 65536
#define RELAY_OUT_CHUNK 65536   /* bytes gathered from a session before a write */
#define RELAY_ACCEPT_PAUSE_MS 100 /* accept() out of descriptors: the listener rests this long */
#define RELAY_FINAL_WRITES_MS 1000 /* at stop, what is still to be written gets this long */

static char g_listen_tag, g_wake_tag; /* epoll data for the listening socket and the eventfd */

int64_t relay_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_events(relay_conn *c, bool out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(c->rl->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
  c->want_out = out;
}

static relay_conn *conn_new(relay *rl, relay_side side, int fd) {
  relay_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close(fd);
    return NULL;
  }
  c->rl = rl;
  c->side = side;
  c->fd = fd;
  c->idle_since_ms = relay_now_ms();
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (relay_h2_session(c) != 0 || epoll_ctl(rl->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    nghttp2_session_del(c->s);
    close(fd);
    free(c);
    return NULL;
  }
  c->next = rl->conns;
  rl->conns = c;
  return c;
}

void relay_conn_close(relay_conn *c, const char *why) {
  if (c->dead) {
    return;
  }
  c->dead = true;
  epoll_ctl(c->rl->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  if (c->rl->server == c) {
    c->rl->server = NULL;
  }
  while (c->calls != NULL) { /* each call leaves the list */
    relay_call_conn_lost(c->calls, c->side, why);
  }
}

/* A connection to address (made now, connecting) for an UP side. */
static relay_conn *connect_to(relay *rl, const struct sockaddr *sa, socklen_t len, const char *name) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return NULL;
  }
  if (sa->sa_family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  bool connecting = false;
  if (connect(fd, sa, len) != 0) {
    if (errno != EINPROGRESS) {
      close(fd); /* refused at once (a unix socket nobody listens on): the caller goes another way */
      return NULL;
    }
    connecting = true;
  }
  relay_conn *c = conn_new(rl, RELAY_UP, fd);
  if (c == NULL) {
    return NULL;
  }
  snprintf(c->name, sizeof c->name, "%s", name);
  c->connecting = connecting;
  c->connect_deadline_ms = relay_now_ms() + RELAY_CONNECT_MS;
  set_events(c, connecting);
  return c;
}

relay_conn *relay_conn_upstream(relay *rl, const char *address) {
  if (rl->closing) {
    return NULL;
  }
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    if (c->side == RELAY_UP && !c->internal && !c->dead && !c->goaway && strcmp(c->name, address) == 0) {
      return c;
    }
  }
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (strlen(address) >= sizeof ((relay_conn *)0)->name || !router_socket_address(address, &ss, &len)) {
    return NULL;
  }
  return connect_to(rl, (struct sockaddr *)&ss, len, address);
}

relay_conn *relay_conn_server(relay *rl) {
  if (rl->server != NULL && !rl->server->dead && !rl->server->goaway) {
    return rl->server;
  }
  if (rl->draining || rl->closing) {
    return NULL;
  }
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path, sizeof un.sun_path, "%s", rl->server_addr + strlen("unix:"));
  relay_conn *c = connect_to(rl, (struct sockaddr *)&un, sizeof un, rl->server_addr);
  if (c != NULL) {
    c->internal = true;
    rl->server = c;
  }
  return c;
}

/* Gathers what the session has to send and writes it; false when c closed. */
static bool flush(relay_conn *c) {
  if (c->dead || c->connecting) {
    return !c->dead;
  }
  for (;;) {
    while (c->out_len - c->out_off < RELAY_OUT_CHUNK) {
      const uint8_t *data = NULL;
      ssize_t n = nghttp2_session_mem_send(c->s, &data);
      if (n < 0) {
        relay_conn_close(c, nghttp2_strerror((int)n));
        return false;
      }
      if (n == 0) {
        break;
      }
      if (c->out_len + (size_t)n > c->out_cap) {
        size_t cap = c->out_cap > 0 ? c->out_cap : RELAY_OUT_CHUNK;
        while (cap < c->out_len + (size_t)n) {
          cap *= 2;
        }
        uint8_t *o = realloc(c->out, cap);
        if (o == NULL) {
          relay_conn_close(c, "out of memory");
          return false;
        }
        c->out = o;
        c->out_cap = cap;
      }
      memcpy(c->out + c->out_len, data, (size_t)n);
      c->out_len += (size_t)n;
    }
    if (c->out_off == c->out_len) {
      break;
    }
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->want_out) {
          set_events(c, true);
        }
        return true;
      }
      relay_conn_close(c, strerror(errno));
      return false;
    }
    c->out_off += (size_t)w;
    if (c->out_off == c->out_len) {
      c->out_off = c->out_len = 0;
    } else {
      if (!c->want_out) {
        set_events(c, true);
      }
      return true;
    }
  }
  if (c->want_out) {
    set_events(c, false);
  }
  if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s)) {
    relay_conn_close(c, "the connection ended");
    return false;
  }
  return true;
}

static void on_readable(relay_conn *c) {
  uint8_t buf[RELAY_READ_CHUNK];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n == 0) {
    relay_conn_close(c, c->side == RELAY_UP ? "the replica closed the connection" : "the client closed the connection");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      relay_conn_close(c, strerror(errno));
    }
    return;
  }
  ssize_t rv = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
  if (rv < 0) {
    flush(c); /* nghttp2 may have a GOAWAY to say why */
    relay_conn_close(c, nghttp2_strerror((int)rv));
  }
}

static void on_event(relay_conn *c, uint32_t events) {
  if (c->dead) {
    return;
  }
  if (c->connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      char why[160];
      snprintf(why, sizeof why, "connect failed: %s", strerror(err != 0 ? err : ECONNREFUSED));
      relay_conn_close(c, why);
      return;
    }
    if ((events & EPOLLOUT) == 0) {
      return;
    }
    c->connecting = false;
    flush(c);
    return;
  }
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
    on_readable(c);
  }
  if (!c->dead && (events & EPOLLOUT) != 0) {
    flush(c);
  }
}

static void on_accept(relay *rl) {
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(rl->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* The connection stays in the backlog and the listener stays readable:
         * rest it rather than spin, and try again shortly. */
        shimkit_log(SHIMKIT_LOG_WARN, "router", "relay: cannot take a connection (%s); retrying in %d ms",
                    strerror(errno), RELAY_ACCEPT_PAUSE_MS);
        epoll_ctl(rl->epoll_fd, EPOLL_CTL_DEL, rl->listen_fd, NULL);
        rl->accept_paused_until_ms = relay_now_ms() + RELAY_ACCEPT_PAUSE_MS;
      }
      return; /* EAGAIN, or a client that went before it was taken */
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    relay_conn *c = conn_new(rl, RELAY_DOWN, fd);
    if (c == NULL) {
      shimkit_log(SHIMKIT_LOG_WARN, "router", "relay: cannot take a new connection: out of memory");
      continue;
    }
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
      snprintf(c->name, sizeof c->name, "ipv6:[%s]:%u", host, ntohs(a6->sin6_port));
    } else {
      struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
      snprintf(c->name, sizeof c->name, "ipv4:%s:%u", host, ntohs(a4->sin_port));
    }
  }
}

void relay_begin_drain(relay *rl) {
  if (rl->draining) {
    return;
  }
  rl->draining = true;
  rl->drain_start_ms = relay_now_ms();
  atomic_store(&rl->draining_seen, true);
  if (rl->listen_fd >= 0) {
    epoll_ctl(rl->epoll_fd, EPOLL_CTL_DEL, rl->listen_fd, NULL);
    close(rl->listen_fd);
    rl->listen_fd = -1;
  }
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    if (c->side == RELAY_DOWN && !c->dead) {
      nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->s),
                            NGHTTP2_NO_ERROR, NULL, 0);
    }
  }
}

/* Flushes every session with something to send. A flush can run callbacks
 * that submit on a connection flushed before it (a refused stream sent
 * again elsewhere, an error answered): those are flushed in a second pass
 * rather than a round later. */
static void flush_all(relay *rl) {
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    flush(c);
  }
  for (int pass = 0; pass < 4; pass++) {
    bool more = false;
    for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
      if (!c->dead && !c->connecting && c->out_off == c->out_len && nghttp2_session_want_write(c->s)) {
        more = true;
        flush(c);
      }
    }
    if (!more) {
      break;
    }
  }
}

/* Frees the connections closed during the round. */
static void free_dead(relay *rl) {
  relay_conn **p = &rl->conns;
  while (*p != NULL) {
    relay_conn *c = *p;
    if (c->dead) {
      *p = c->next;
      nghttp2_session_del(c->s);
      free(c->out);
      free(c);
    } else {
      p = &c->next;
    }
  }
}

/* Connect deadlines, retired and idle connections to replicas, a rested listener; then the writes. */
static void end_round(relay *rl, int64_t now) {
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    if (c->dead) {
      continue;
    }
    if (c->connecting && now >= c->connect_deadline_ms) {
      relay_conn_close(c, "connect timed out");
      continue;
    }
    if (c->calls != NULL) {
      c->idle_since_ms = now;
    } else if (c->side == RELAY_UP && ((c->goaway && c != rl->server) ||
                                       (!c->internal && now - c->idle_since_ms >= RELAY_IDLE_UP_MS))) {
      relay_conn_close(c, "idle");
    }
  }
  if (rl->accept_paused_until_ms != 0 && now >= rl->accept_paused_until_ms) {
    rl->accept_paused_until_ms = 0;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &g_listen_tag};
    if (rl->listen_fd >= 0) {
      epoll_ctl(rl->epoll_fd, EPOLL_CTL_ADD, rl->listen_fd, &lev);
    }
  }
  flush_all(rl);
  free_dead(rl);
}

/* Handles one batch of epoll events. */
static void handle(relay *rl, struct epoll_event *evs, int n) {
  for (int i = 0; i < n; i++) {
    void *tag = evs[i].data.ptr;
    if (tag == &g_listen_tag) {
      if (!rl->draining && !rl->closing) {
        on_accept(rl);
      }
    } else if (tag == &g_wake_tag) {
      uint64_t v;
      if (read(rl->wake_fd, &v, sizeof v) < 0) {
        /* nothing to do: the flags are read by the loop */
      }
    } else {
      on_event(tag, evs[i].events);
    }
  }
}

/* Whether some client connection still has bytes for its socket. */
static bool writes_pending(relay *rl) {
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    if (c->side == RELAY_DOWN && !c->dead && (c->out_off < c->out_len || nghttp2_session_want_write(c->s))) {
      return true;
    }
  }
  return false;
}

static void *relay_main(void *arg) {
  relay *rl = arg;
  relay_conn_server(rl); /* at once: its GOAWAY is how the relay learns the drain began */
  struct epoll_event evs[64];
  while (!atomic_load(&rl->stop)) {
    int n = epoll_wait(rl->epoll_fd, evs, 64, 200);
    if (atomic_load(&rl->drain_asked)) {
      relay_begin_drain(rl);
    }
    handle(rl, evs, n);
    end_round(rl, relay_now_ms());
  }
  /* Stopping: what the calls already ended with still reaches slow clients, for a while. */
  rl->closing = true;
  int64_t until = relay_now_ms() + RELAY_FINAL_WRITES_MS;
  while (writes_pending(rl) && relay_now_ms() < until) {
    int n = epoll_wait(rl->epoll_fd, evs, 64, 20);
    handle(rl, evs, n);
    end_round(rl, relay_now_ms());
  }
  for (relay_conn *c = rl->conns; c != NULL; c = c->next) {
    relay_conn_close(c, "the router stopped");
  }
  free_dead(rl);
  return NULL;
}

bool relay_can_front(const char *listen) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  return router_ip_port(listen, &ss, &len);
}

relay *relay_bind(router *r, const char *address, int grace_ms, int *port, char *err, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (!router_socket_address(address, &ss, &len)) {
    snprintf(err, cap, "%s is not a numeric HOST:PORT", address);
    return NULL;
  }
  relay *rl = calloc(1, sizeof *rl);
  if (rl == NULL) {
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  rl->r = r;
  rl->grace_ms = grace_ms;
  rl->retry_buffer = RELAY_RETRY_BUFFER_DEFAULT;
  atomic_init(&rl->kept_bytes, 0);
  atomic_init(&rl->direct_calls, 0);
  rl->listen_fd = rl->epoll_fd = rl->wake_fd = -1;
  atomic_init(&rl->live_calls, 0);
  atomic_init(&rl->stop, false);
  atomic_init(&rl->drain_asked, false);
  atomic_init(&rl->draining_seen, false);
  snprintf(rl->dir, sizeof rl->dir, "/tmp/shimkit-router-XXXXXX");
  int one = 1;
  rl->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (rl->listen_fd < 0 || setsockopt(rl->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(rl->listen_fd, (struct sockaddr *)&ss, len) != 0 || listen(rl->listen_fd, 1024) != 0) {
    snprintf(err, cap, "%s", strerror(errno));
    rl->dir[0] = '\0';
    relay_free(rl);
    return NULL;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(rl->listen_fd, (struct sockaddr *)&bound, &blen);
  *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                            : ((struct sockaddr_in *)&bound)->sin_port);
  if (mkdtemp(rl->dir) == NULL) {
    snprintf(err, cap, "cannot make a directory for the server's socket: %s", strerror(errno));
    rl->dir[0] = '\0';
    relay_free(rl);
    return NULL;
  }
  snprintf(rl->server_addr, sizeof rl->server_addr, "unix:%s/server.sock", rl->dir);
  rl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  rl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &g_listen_tag};
  struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &g_wake_tag};
  if (rl->epoll_fd < 0 || rl->wake_fd < 0 || epoll_ctl(rl->epoll_fd, EPOLL_CTL_ADD, rl->listen_fd, &lev) != 0 ||
      epoll_ctl(rl->epoll_fd, EPOLL_CTL_ADD, rl->wake_fd, &wev) != 0) {
    snprintf(err, cap, "%s", strerror(errno));
    relay_free(rl);
    return NULL;
  }
  return rl;
}

const char *relay_server_address(const relay *rl) {
  return rl->server_addr;
}

void relay_set_retry_buffer(relay *rl, size_t bytes) {
  rl->retry_buffer = bytes;
}

size_t relay_metrics(char *buf, size_t cap, void *relay_ptr) {
  const relay *rl = relay_ptr;
  return (size_t)snprintf(
      buf, cap,
      "# HELP shimkit_router_relay_retry_buffer_bytes Request bytes the relay keeps now, all calls together, "
      "to send a refused call to another replica.\n"
      "# TYPE shimkit_router_relay_retry_buffer_bytes gauge\n"
      "shimkit_router_relay_retry_buffer_bytes %zu\n"
      "# HELP shimkit_router_relay_retry_buffer_limit_bytes The most it keeps (--retry-buffer-mib).\n"
      "# TYPE shimkit_router_relay_retry_buffer_limit_bytes gauge\n"
      "shimkit_router_relay_retry_buffer_limit_bytes %zu\n"
      "# HELP shimkit_router_relay_direct_calls_total Calls the relay sent straight to a replica (the others "
      "went through the router's gRPC server).\n"
      "# TYPE shimkit_router_relay_direct_calls_total counter\n"
      "shimkit_router_relay_direct_calls_total %llu\n",
      atomic_load_explicit(&rl->kept_bytes, memory_order_relaxed), rl->retry_buffer,
      (unsigned long long)atomic_load_explicit(&rl->direct_calls, memory_order_relaxed));
}

int relay_start(relay *rl) {
  if (pthread_create(&rl->thread, NULL, relay_main, rl) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "relay: cannot start its thread");
    return -1;
  }
  rl->running = true;
  return 0;
}

static void wake(relay *rl) {
  uint64_t one = 1;
  if (write(rl->wake_fd, &one, sizeof one) < 0) {
    /* the loop also wakes every 200 ms */
  }
}

static void stop_thread(relay *rl) {
  if (!rl->running) {
    return;
  }
  atomic_store(&rl->stop, true);
  wake(rl);
  pthread_join(rl->thread, NULL);
  rl->running = false;
}

void relay_drain(relay *rl) {
  if (rl == NULL || !rl->running) {
    return;
  }
  if (!atomic_load(&rl->draining_seen)) { /* the server's GOAWAY was not seen (no connection to it then) */
    atomic_store(&rl->drain_asked, true);
    wake(rl);
  }
  int64_t start = relay_now_ms();
  for (int i = 0; i < 100 && !atomic_load(&rl->draining_seen); i++) {
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (atomic_load(&rl->draining_seen)) {
    start = rl->drain_start_ms; /* written before draining_seen */
  }
  int64_t deadline = start + rl->grace_ms;
  if (atomic_load(&rl->live_calls) > 0) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "relay: draining: %d calls in flight through the relay",
                atomic_load(&rl->live_calls));
  }
  while (atomic_load(&rl->live_calls) > 0 && relay_now_ms() < deadline) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  int left = atomic_load(&rl->live_calls);
  if (left > 0) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "relay: drain grace over: closing %d calls", left);
  }
  stop_thread(rl);
}

void relay_free(relay *rl) {
  if (rl == NULL) {
    return;
  }
  stop_thread(rl);
  if (rl->listen_fd >= 0) {
    close(rl->listen_fd);
  }
  if (rl->epoll_fd >= 0) {
    close(rl->epoll_fd);
  }
  if (rl->wake_fd >= 0) {
    close(rl->wake_fd);
  }
  if (rl->dir[0] != '\0') {
    char sock[128];
    snprintf(sock, sizeof sock, "%s/server.sock", rl->dir);
    unlink(sock);
    rmdir(rl->dir);
  }
  free(rl);
}
