/*
 * redact_check.c - the checks a candidate span must pass after its pattern matched: digit counts,
 * the Luhn checksum and issuer prefixes of bank cards, the birth date and ISO 7064 checksum of
 * mainland China resident IDs, and what makes an IPv6 candidate an address rather than a time or
 * a C++ scope. Pure functions over the candidate's bytes.
 */
#include "trust/redact_check.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

/* The digits of s[0..len) into out (at most cap); returns how many there are. */
static int collect_digits(const char *s, size_t len, char *out, int cap) {
    int n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] >= '0' && s[i] <= '9') {
            if (n < cap) out[n] = s[i];
            n++;
        }
    return n;
}

bool ag_luhn_valid(const char *digits, int n) {
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i & 1) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

static int prefix_num(const char *digits, int k) {
    int v = 0;
    for (int i = 0; i < k; i++) v = v * 10 + (digits[i] - '0');
    return v;
}

/* Issuer identification: the card networks' number ranges and the lengths they issue. */
static bool card_issuer_known(const char *d, int n) {
    int p1 = prefix_num(d, 1), p2 = prefix_num(d, 2), p3 = prefix_num(d, 3), p4 = prefix_num(d, 4);
    if (p1 == 4) return n == 13 || n == 16 || n == 19;                        /* Visa */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16; /* Mastercard */
    if (p2 == 34 || p2 == 37) return n == 15;                                 /* American Express */
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38) return n >= 14 && n <= 19; /* Diners */
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;                  /* JCB */
    if (p2 == 62 || p2 == 81) return n >= 16 && n <= 19;                      /* UnionPay */
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return n >= 16 && n <= 19; /* Discover */
    if (p2 == 50 || (p2 >= 56 && p2 <= 69)) return n >= 16 && n <= 19;        /* Maestro and domestic */
    if (p2 == 95 || p2 == 94 || p2 == 90) return n >= 16 && n <= 19;          /* Chinese domestic debit */
    return false;
}

bool ag_check_bank_card(const char *s, size_t len) {
    char d[32];
    int n = collect_digits(s, len, d, (int)sizeof d);
    if (n < 13 || n > 19) return false;
    return card_issuer_known(d, n) && ag_luhn_valid(d, n);
}

static bool leap_year(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool ag_check_cn_id(const char *s, size_t len) {
    if (len != 18) return false;
    for (int i = 0; i < 17; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    int region = prefix_num(s, 2); /* province codes: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81-83, 91 */
    if (region < 11 || region > 91) return false;
    int year = prefix_num(s + 6, 4), month = prefix_num(s + 10, 2), day = prefix_num(s + 12, 2);
    static const int days_in_month[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1900 || year > 2099 || month < 1 || month > 12 || day < 1) return false;
    int max_day = days_in_month[month - 1] + (month == 2 && leap_year(year));
    if (day > max_day) return false;
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (s[i] - '0') * weights[i];
    static const char check_chars[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    char c = s[17] == 'x' ? 'X' : s[17];
    return c == check_chars[sum % 11];
}

bool ag_check_cn_mobile(const char *s, size_t len) {
    char d[24];
    int n = collect_digits(s, len, d, (int)sizeof d);
    if (n == 13 && d[0] == '8' && d[1] == '6') return true; /* +86 / 86 prefix */
    if (n == 15 && memcmp(d, "0086", 4) == 0) return true;
    return n == 11;
}

bool ag_check_intl_phone(const char *s, size_t len) {
    char d[24];
    int n = collect_digits(s, len, d, (int)sizeof d);
    return n >= 8 && n <= 15;
}

bool ag_check_ipv6(const char *s, size_t len) {
    char buf[64];
    if (len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    unsigned char addr[16];
    if (inet_pton(AF_INET6, buf, addr) != 1) return false;
    /* "a::b" could be a scope in code: ask for 3 groups, a 3-4 digit group, or a leading "::" */
    if (len >= 2 && s[0] == ':' && s[1] == ':') return true;
    int groups = 0, run = 0, longest = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ':' && s[i] != '.') {
            run++;
            continue;
        }
        if (run) groups++;
        if (run > longest) longest = run;
        run = 0;
    }
    return groups >= 3 || longest >= 3;
}
