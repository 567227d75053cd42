/* log.c - timestamped, level-filtered, rate-limited log lines to a stream
 * chosen by main (log.h).
 *
 * The budget is a token bucket per kind refilled from CLOCK_MONOTONIC;
 * the logger is used from one thread (libcoap's), so nothing is locked.
 */
#include "log.h"
#include "ota.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_OTHER_BURST 64

struct log_budget {
    struct ota_bucket bucket;
    uint64_t dropped; /* since the last summary */
};

static enum log_level log_level_now = LOG_L_INFO;
static FILE *log_stream;
static int log_journal; /* stderr is the journal: <N> prefixes, no timestamp */
static unsigned log_rate;
static struct log_budget log_budgets[LOG_K__COUNT];
static uint64_t log_dropped_total;

static const char *const log_names[] = {"error", "warn", "info", "debug"};
static const char *const log_kind_names[LOG_K__COUNT] = {
    "other", "req", "download", "refusal", "limit", "report", "dtls", "coap"};

void log_set_level(enum log_level lvl)
{
    log_level_now = lvl;
}

enum log_level log_get_level(void)
{
    return log_level_now;
}

void log_set_stream(FILE *fp)
{
    log_stream = fp;
}

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it
 * connected; it only counts while stderr is still that very stream
 * (a child whose stderr was redirected inherits the variable too). */
int log_detect_journal(void)
{
    const char *v = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    log_journal = v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                  (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    return log_journal;
}

void log_set_rate(unsigned per_s)
{
    log_rate = per_s;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_L_DEBUG; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

static uint64_t log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int log_allow(enum log_kind kind, enum log_level lvl)
{
    if (lvl > log_level_now)
        return 0;
    if (!log_rate)
        return 1;
    if ((unsigned)kind >= LOG_K__COUNT)
        kind = LOG_K_OTHER;
    struct log_budget *b = &log_budgets[kind];
    /* Operator-paced lines (start-up, reload) come in bursts of a few
     * dozen; the rest is per request and gets exactly log_rate. */
    double burst = log_rate + (kind == LOG_K_OTHER ? LOG_OTHER_BURST : 0);
    if (ota_bucket_take(&b->bucket, log_rate, burst, log_now_ms(), NULL))
        return 1;
    b->dropped++;
    log_dropped_total++;
    return 0;
}

static void log_vwrite(enum log_level lvl, const char *fmt, va_list ap)
{
    char line[1024], stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    vsnprintf(line, sizeof line, fmt, ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    FILE *fp = log_stream ? log_stream : stderr;
    /* sd-daemon(3) priorities: err, warning, info, debug */
    static const char prio[] = {'3', '4', '6', '7'};
    if (log_journal && fp == stderr)
        fprintf(fp, "<%c>%-5s %s\n", prio[lvl], log_names[lvl], line);
    else
        fprintf(fp, "%s.%03ldZ %-5s %s\n", stamp, ts.tv_nsec / 1000000L, log_names[lvl], line);
    fflush(fp);
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(lvl, fmt, ap);
    va_end(ap);
}

static void log_vkmsg(enum log_kind kind, enum log_level lvl, const char *fmt, va_list ap)
{
    if (log_allow(kind, lvl))
        log_vwrite(lvl, fmt, ap);
}

void log_kmsg(enum log_kind kind, enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vkmsg(kind, lvl, fmt, ap);
    va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vkmsg(LOG_K_OTHER, lvl, fmt, ap);
    va_end(ap);
}

void log_flush(void)
{
    char detail[256];
    size_t at = 0;
    uint64_t total = 0;
    detail[0] = '\0';
    for (int k = 0; k < LOG_K__COUNT; k++) {
        struct log_budget *b = &log_budgets[k];
        if (!b->dropped)
            continue;
        int n = snprintf(detail + at, sizeof detail - at, " %s=%llu", log_kind_names[k],
                         (unsigned long long)b->dropped);
        if (n > 0 && (size_t)n < sizeof detail - at)
            at += (size_t)n;
        total += b->dropped;
        b->dropped = 0;
    }
    if (total)
        log_write(LOG_L_WARN, "log suppressed %llu lines over log_rate %u/s per kind:%s",
                  (unsigned long long)total, log_rate, detail);
}

uint64_t log_suppressed_total(void)
{
    return log_dropped_total;
}
