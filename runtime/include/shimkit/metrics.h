/*
 * shimkit/metrics.h - per-method call counters and latency histograms, served
 * in the Prometheus text format.
 *
 * Metrics plug into a server as an interceptor, so handlers do not change:
 *   shimkit_metrics *m = shimkit_metrics_new();
 *   shimkit_metrics_attach(m, srv);                       before shimkit_server_start
 *   shimkit_metrics_listen(m, "127.0.0.1:9464", &port);   GET /metrics
 *   ... shimkit_server_wait(srv); shimkit_server_free(srv);
 *   shimkit_metrics_free(m);                              after the server is freed
 *
 * Series (method = "/pkg.Service/Method", code = "OK", "NOT_FOUND", ...):
 *   shimkit_calls_started_total{method}
 *   shimkit_calls_handled_total{method,code}
 *   shimkit_calls_in_flight{method}
 *   shimkit_call_duration_seconds{method} (histogram)
 * Only methods that a registered service declares are counted, so a client
 * cannot grow the set of series with made-up paths.
 *
 * A program adds series of its own (a proxy's per-backend counters, a
 * queue's depth) with shimkit_metrics_add_collector(): a callback that
 * writes Prometheus text, called on every scrape after the series above.
 */
#ifndef SHIMKIT_METRICS_H
#define SHIMKIT_METRICS_H

#include <stddef.h>

#include "shimkit/export.h"
#include "shimkit/server.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_metrics shimkit_metrics;

/** A new, empty metrics registry, or NULL when out of memory. */
SHIMKIT_API shimkit_metrics *shimkit_metrics_new(void);

/**
 * Counts every call of srv from now on (adds an interceptor, so call it before
 * shimkit_server_start). One registry may serve several servers. The registry
 * must outlive the server.
 */
SHIMKIT_API shimkit_code shimkit_metrics_attach(shimkit_metrics *metrics, shimkit_server *srv);

/**
 * Serves GET /metrics over plain HTTP/1.0 on address ("127.0.0.1:9464"; port
 * 0 picks one, written to *bound_port when not NULL) from a thread of its
 * own. Once per registry. SHIMKIT_UNAVAILABLE when the address cannot be bound,
 * SHIMKIT_INVALID_ARGUMENT when it is not "IPv4:port".
 */
SHIMKIT_API shimkit_code shimkit_metrics_listen(shimkit_metrics *metrics, const char *address,
                                                int *bound_port);

/**
 * Writes the current metrics in the Prometheus text format into buf (at most
 * cap bytes, NUL-terminated). Returns the length the full text needs, without
 * the NUL: when it is >= cap the text was cut, call again with a larger buffer.
 */
SHIMKIT_API size_t shimkit_metrics_render(shimkit_metrics *metrics, char *buf, size_t cap);

/**
 * A source of extra series: writes its metrics in the Prometheus text format
 * (whole lines, with its own # HELP and # TYPE lines) into buf, at most cap
 * bytes, NUL-terminated, and returns the length the full text needs without
 * the NUL, exactly as snprintf does: buf may be NULL when cap is 0, and a
 * return value >= cap means the text was cut (render is then called again
 * with a larger buffer). It runs on the thread that renders (the /metrics
 * thread), without any lock of the registry held; it must not call back
 * into the registry.
 */
typedef size_t (*shimkit_metrics_collector_fn)(char *buf, size_t cap, void *user_data);

/**
 * Adds a collector (at most 8 per registry), before or after listen.
 * user_data is passed to fn and must stay valid until shimkit_metrics_free().
 * SHIMKIT_INVALID_ARGUMENT for a NULL registry or fn, SHIMKIT_RESOURCE_EXHAUSTED
 * past 8.
 */
SHIMKIT_API shimkit_code shimkit_metrics_add_collector(shimkit_metrics *metrics, shimkit_metrics_collector_fn fn,
                                                       void *user_data);

/** Stops the HTTP thread and frees the registry. Accepts NULL. */
SHIMKIT_API void shimkit_metrics_free(shimkit_metrics *metrics);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_METRICS_H */
