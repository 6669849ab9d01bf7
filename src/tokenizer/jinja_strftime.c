/*
 * jinja_strftime.c - strftime_now(format), the global transformers gives chat templates.
 *
 * It formats the local time, as Python's datetime.now().strftime does in the C locale (English
 * names). For reproducible renders the context may fix the time with the key `_ag_now`
 * ("YYYY-MM-DD", optionally followed by "THH:MM" or "THH:MM:SS"). The formatting is done here
 * rather than with the C library so that the process locale cannot change it.
 */
#include "tokenizer/jinja_impl.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const DAYS[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
static const char *const MONTHS[] = {"January", "February", "March",     "April",   "May",      "June",
                                     "July",    "August",   "September", "October", "November", "December"};

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int parse_digits(const char *p, size_t n, size_t at, size_t count) {
    if (at + count > n) return -1;
    int v = 0;
    for (size_t i = 0; i < count; i++) {
        char c = p[at + i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

bool jx_parse_now(jx_state *st, const char *p, size_t n) {
    int y = parse_digits(p, n, 0, 4), mo = parse_digits(p, n, 5, 2), d = parse_digits(p, n, 8, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || p[4] != '-' || p[7] != '-') return false;
    int h = 0, mi = 0, s = 0;
    if (n > 10) {
        if (p[10] != 'T' && p[10] != ' ') return false;
        h = parse_digits(p, n, 11, 2);
        mi = parse_digits(p, n, 14, 2);
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || n < 16 || p[13] != ':') return false;
        if (n > 16) {
            s = parse_digits(p, n, 17, 2);
            if (n != 19 || p[16] != ':' || s < 0 || s > 60) return false;
        }
    }
    st->have_now = true;
    st->now_epoch_days = days_from_civil(y, mo, d);
    st->now_h = h;
    st->now_m = mi;
    st->now_s = s;
    return true;
}

typedef struct {
    int64_t year;
    int mon, mday, hour, min, sec, wday, yday;
} civil_time;

static civil_time current_time(jx_state *st) {
    civil_time t = {0};
    int64_t days;
    if (st->have_now) {
        days = st->now_epoch_days;
        t.hour = st->now_h;
        t.min = st->now_m;
        t.sec = st->now_s;
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        days = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        t.hour = tm.tm_hour;
        t.min = tm.tm_min;
        t.sec = tm.tm_sec;
    }
    civil_from_days(days, &t.year, &t.mon, &t.mday);
    t.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    t.yday = (int)(days - days_from_civil(t.year, 1, 1));
    return t;
}

jv jx_strftime_now(jx_state *st, jv fmt) {
    if (fmt.kind == JV_UNDEF) jx_fail_undefined(st, fmt);
    if (fmt.kind != JV_STR) jx_fail(st, "strftime() argument 1 must be str, not %s", jv_type_name(fmt));
    civil_time t = current_time(st);
    jx_buf b = {0};
    const char *p = fmt.s.p, *end = p + fmt.s.n;
    while (p < end) {
        if (*p != '%' || p + 1 >= end) {
            jx_buf_putc(st, &b, *p++);
            continue;
        }
        p++;
        bool nopad = false;
        if (*p == '-' && p + 1 < end) {
            nopad = true;
            p++;
        }
        char c = *p++;
        const char *num2 = nopad ? "%d" : "%02d";
        int h12 = t.hour % 12 ? t.hour % 12 : 12;
        switch (c) {
        case 'a': jx_buf_put(st, &b, DAYS[t.wday], 3); break;
        case 'A': jx_buf_put(st, &b, DAYS[t.wday], strlen(DAYS[t.wday])); break;
        case 'b':
        case 'h': jx_buf_put(st, &b, MONTHS[t.mon - 1], 3); break;
        case 'B': jx_buf_put(st, &b, MONTHS[t.mon - 1], strlen(MONTHS[t.mon - 1])); break;
        case 'd': jx_buf_printf(st, &b, num2, t.mday); break;
        case 'e': jx_buf_printf(st, &b, nopad ? "%d" : "%2d", t.mday); break;
        case 'm': jx_buf_printf(st, &b, num2, t.mon); break;
        case 'y': jx_buf_printf(st, &b, num2, (int)(t.year % 100)); break;
        case 'Y': jx_buf_printf(st, &b, "%lld", (long long)t.year); break;
        case 'C': jx_buf_printf(st, &b, num2, (int)(t.year / 100)); break;
        case 'H': jx_buf_printf(st, &b, num2, t.hour); break;
        case 'I': jx_buf_printf(st, &b, num2, h12); break;
        case 'M': jx_buf_printf(st, &b, num2, t.min); break;
        case 'S': jx_buf_printf(st, &b, num2, t.sec); break;
        case 'p': jx_buf_put(st, &b, t.hour < 12 ? "AM" : "PM", 2); break;
        case 'j': jx_buf_printf(st, &b, nopad ? "%d" : "%03d", t.yday + 1); break;
        case 'u': jx_buf_printf(st, &b, "%d", t.wday ? t.wday : 7); break;
        case 'w': jx_buf_printf(st, &b, "%d", t.wday); break;
        case 'F': jx_buf_printf(st, &b, "%lld-%02d-%02d", (long long)t.year, t.mon, t.mday); break;
        case 'D':
        case 'x': jx_buf_printf(st, &b, "%02d/%02d/%02d", t.mon, t.mday, (int)(t.year % 100)); break;
        case 'T':
        case 'X': jx_buf_printf(st, &b, "%02d:%02d:%02d", t.hour, t.min, t.sec); break;
        case 'R': jx_buf_printf(st, &b, "%02d:%02d", t.hour, t.min); break;
        case 'r': jx_buf_printf(st, &b, "%02d:%02d:%02d %s", h12, t.min, t.sec, t.hour < 12 ? "AM" : "PM"); break;
        case 'c':
            jx_buf_printf(st, &b, "%.3s %.3s %2d %02d:%02d:%02d %lld", DAYS[t.wday], MONTHS[t.mon - 1], t.mday, t.hour,
                          t.min, t.sec, (long long)t.year);
            break;
        case 'n': jx_buf_putc(st, &b, '\n'); break;
        case 't': jx_buf_putc(st, &b, '\t'); break;
        case 'z':
        case 'Z': break; /* naive datetime: empty */
        case '%': jx_buf_putc(st, &b, '%'); break;
        default: jx_fail_unsupported(st, st->line, "unsupported strftime directive '%%%c'", c);
        }
    }
    return jv_str(b.p, b.n);
}
