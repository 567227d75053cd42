/* log.h - the one place the library may write text.
 *
 * main() chooses the destination (default stderr) and level; library code
 * calls log_msg() for events worth an operator's attention. Lines are
 * "<ISO time> <level> <message>" and never contain a newline of their own.
 *
 * Every line goes through a per-kind budget (log_set_rate: lines per
 * second per kind, burst as many, plus 64 for start-up and reload lines;
 * 0 = unlimited, the default): a flood of one kind
 * (forged RSTs making libcoap talk, refused handshakes, reports) cannot
 * hide the others, and cannot make the log grow faster than the budget
 * whatever an attacker sends. Lines over budget are counted by kind and
 * summarised by log_flush ("log suppressed N lines: coap=.. req=..."),
 * which the server calls once a second.
 */
#ifndef LOG_H
#define LOG_H

#include <stdint.h>
#include <stdio.h>

/* LOG_L_ prefix: syslog.h (pulled in by libcoap) owns LOG_INFO/LOG_DEBUG. */
enum log_level { LOG_L_ERROR = 0, LOG_L_WARN, LOG_L_INFO, LOG_L_DEBUG };

/* What a line is about, each with its own budget. */
enum log_kind {
    LOG_K_OTHER = 0, /* start-up, reload, operator actions */
    LOG_K_REQ,       /* per-request lines (blocks at debug, /stats) */
    LOG_K_DOWNLOAD,  /* download start / end */
    LOG_K_REFUSAL,   /* requests refused for what they carry */
    LOG_K_LIMIT,     /* requests refused by the overload limits */
    LOG_K_REPORT,    /* POST /report outcomes */
    LOG_K_DTLS,      /* handshakes refused or failed */
    LOG_K_COAP,      /* libcoap's own messages */
    LOG_K__COUNT
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* NULL restores stderr. The stream is not closed by the logger. */
void log_set_stream(FILE *fp);
/* 1 if stderr is the systemd journal (JOURNAL_STREAM): lines then carry
 * sd-daemon "<N>" priority prefixes instead of a timestamp. */
int log_detect_journal(void);
/* Parse "error|warn|info|debug"; returns -1 if unknown. */
int log_level_parse(const char *s);
/* Lines per second per kind (burst as many); 0 = unlimited. */
void log_set_rate(unsigned per_s);
/* 1 if a line of this kind and level would be written now, and takes
 * it from the budget; 0 if the level filters it (not counted) or the
 * budget is spent (counted as suppressed). For callers that want to skip
 * formatting; pair with log_write. */
int log_allow(enum log_kind kind, enum log_level lvl);
/* Write a line already allowed by log_allow. */
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_kmsg(enum log_kind kind, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_kmsg of kind LOG_K_OTHER. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write the "suppressed" summary if lines were dropped since the last
 * call (one line, never itself suppressed). */
void log_flush(void);
/* Lines suppressed since start (for counters). */
uint64_t log_suppressed_total(void);

#endif
