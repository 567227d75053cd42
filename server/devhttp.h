/* devhttp.h - the module platform's device API over HTTP ([http] listen).
 *
 * GET (or HEAD) /api/site/firmware_upgrade?project_key=..&imei=..&
 * firmware_name=..&core_version=..&dfota=1&version=.. is answered the
 * way the platform's 4G modules (LuaTask update.lua) expect, through the
 * same decision as CoAP GET /fota (fota.h, with no_slice): query ->
 * product key and project -> check rate, allowlist, rollout -> selection.
 * This file only maps the outcome to HTTP:
 * - the package: 200 (no Range, or an If-Range naming another package)
 *   or 206 with Content-Range, always ETag (the quoted first 16 hex digits
 *   of the package's SHA-256, as CoAP's ETag option), Accept-Ranges and
 *   Content-Length; the body is sent from the package's private bytes by
 *   reference (no copy), holding a package reference until the answer
 *   ends, so a package replaced mid-download still finishes with the old
 *   bytes, and the module's next If-Range with the old ETag gets the whole
 *   new package (200);
 * - need_oss_url=1 with [http] redirect_base: 302 to redirect_base/NAME
 *   (the same package file copied to a CDN), no transfer counted;
 * - every refusal: status 404 (27, 44), 403 (25, 21), 400 (3, 26),
 *   416 (3, Content-Range: bytes STAR/LEN), 429 (40) or 503 (43), the last two
 *   with Retry-After, and a JSON body of at most 200 bytes
 *   {"code":N,"msg":"..."} (status.h; never a 2xx with a JSON body).
 * Overload control is CoAP's: the per-source rate (rate_limit, 503 43)
 * before the decision, the transfer caps (max_transfers, per address,
 * the coaps:// reserve) after it. An answer carrying the package counts
 * as a running transfer from the moment it is decided until it ends (sent
 * in full or the connection broken, whichever comes first), so a module
 * resuming after a break on a new connection is not counted twice.
 * A request with Range N > 0 continues a download: it is not an update
 * check for check_interval.
 * Threads: libmicrohttpd's threads run the handler; everything the
 * decision reads or changes (index, memo, limits, checks, fleet,
 * counters, cfg) is used under s->lock, which the CoAP thread holds
 * around coap_io_process, its ticks and reloads. The body is streamed
 * without the lock.
 */
#ifndef SRV_DEVHTTP_H
#define SRV_DEVHTTP_H

#include "ota.h"

#define SRV_DEVHTTP_PATH "/api/site/firmware_upgrade"
#define SRV_DEVHTTP_JSON_MAX 200 /* the module reads at most this much of a refusal */

struct srv;

/* With [http] listen: bind (OTA_E_NET if it cannot) and start the
 * listener's threads. No-op without. Call once the index is open. */
enum ota_err srv_devhttp_start(struct srv *s, char *msg);
/* Warn about [http] settings a reload cannot change. */
void srv_devhttp_reload(struct srv *s);
/* Close the listener, end its connections, join its threads. */
void srv_devhttp_stop(struct srv *s);

#endif
