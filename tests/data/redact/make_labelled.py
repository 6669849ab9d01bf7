#!/usr/bin/python3
"""make_labelled.py - writes labelled.jsonl, the redaction test set (tests/test_redact.c reads it).

Each line is {"text": ..., "spans": [{"kind": ..., "start": N, "end": N}]}, offsets in Unicode
code points. Positive lines hold sensitive values (phone numbers, e-mails, resident IDs, bank
cards, IP addresses, secrets) in English and Chinese sentences; negative lines hold look-alikes
that are not sensitive (IDs with a wrong checksum or date, numbers failing Luhn, order numbers,
dates, times, versions, prices, code, placeholders ...). Deterministic (fixed seed); the committed
file is the test set, this script documents how it was made.
"""
import json
import os
import random

rng = random.Random(20261130)


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def luhn_complete(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def luhn_ok(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
REGIONS = ["110105", "110108", "310104", "310115", "440305", "440106", "510107", "330106", "420111", "320102",
           "370202", "500103", "610113", "210102", "350203", "430104", "120101", "650102"]


def cn_id(valid=True, bad_date=False):
    year = rng.randint(1950, 2008)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    if bad_date:
        month, day = rng.choice([(2, 30), (4, 31), (13, 1), (0, 12), (6, 31), (11, 31)])
    body = f"{rng.choice(REGIONS)}{year:04d}{month:02d}{day:02d}{digits(3)}"
    check = ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return body + check


MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150", "151", "152",
                   "155", "157", "158", "159", "166", "173", "176", "177", "180", "181", "183", "185", "186",
                   "187", "188", "189", "191", "198", "199"]


def cn_mobile():
    n = rng.choice(MOBILE_PREFIXES) + digits(8)
    style = rng.randrange(6)
    if style == 0:
        return n
    if style == 1:
        return f"{n[:3]} {n[3:7]} {n[7:]}"
    if style == 2:
        return f"{n[:3]}-{n[3:7]}-{n[7:]}"
    if style == 3:
        return f"+86 {n}"
    if style == 4:
        return f"+86{n}"
    return f"+86 {n[:3]} {n[3:7]} {n[7:]}"


def intl_phone():
    return rng.choice([
        lambda: f"+44 20 {digits(4)} {digits(4)}",
        lambda: f"+1 {rng.randint(201, 989)} {rng.randint(201, 989)} {digits(4)}",
        lambda: f"+1 ({rng.randint(201, 989)}) {rng.randint(201, 989)}-{digits(4)}",
        lambda: f"+49 30 {digits(7)}",
        lambda: f"+81 3-{digits(4)}-{digits(4)}",
        lambda: f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        lambda: f"+852 {digits(4)} {digits(4)}",
        lambda: f"+65 {digits(4)} {digits(4)}",
        lambda: f"+61 2 {digits(4)} {digits(4)}",
        lambda: f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{digits(4)}",
        lambda: f"{rng.randint(201, 989)}-{rng.randint(201, 989)}-{digits(4)}",
    ])()


NAMES = ["zhang.san", "li_si", "wang.wu88", "alice", "bob.smith", "chen+news", "liu.yang", "j.doe", "support",
         "admin-team", "zhao2024", "sun.li", "user.name", "m.garcia", "xiao.ming"]
DOMAINS = ["example.com", "example.org", "mail.example.cn", "qq.com", "163.com", "corp.example.com.cn",
           "university.edu", "sub.domain.example.io", "gmail.com", "outlook.com", "company.co.uk"]


def email():
    if rng.random() < 0.15:
        return f"{rng.randint(10000, 999999999)}@qq.com"
    return f"{rng.choice(NAMES)}@{rng.choice(DOMAINS)}"


def bank_card(valid=True):
    kind = rng.randrange(5)
    if kind == 0:
        body = "62" + digits(rng.choice([13, 16]))  # UnionPay 16 or 19
    elif kind == 1:
        body = "4" + digits(14)
    elif kind == 2:
        body = str(rng.randint(51, 55)) + digits(13)
    elif kind == 3:
        body = rng.choice(["34", "37"]) + digits(12)
    else:
        body = "6" + rng.choice(["011", "5" + digits(2)]) + digits(11)
    number = luhn_complete(body)
    if not valid:
        last = int(number[-1])
        number = number[:-1] + str((last + rng.randint(1, 9)) % 10)
        assert not luhn_ok(number)
    style = rng.randrange(3)
    if len(number) == 15 and style:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    if style == 1:
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    if style == 2:
        return "-".join(number[i:i + 4] for i in range(0, len(number), 4))
    return number


def ipv4():
    return ".".join(str(rng.randint(0, 255)) for _ in range(4)) if rng.random() < 0.5 else \
        rng.choice(["192.168", "10.0", "172.16", "8.8"]) + f".{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def hexg():
    return f"{rng.randint(0, 0xffff):x}"


def ipv6():
    return rng.choice([
        lambda: ":".join(hexg() for _ in range(8)),
        lambda: f"fe80::{hexg()}:{hexg()}:{hexg()}:{hexg()}",
        lambda: f"2001:db8::{hexg()}",
        lambda: f"2001:db8:{hexg()}:{hexg()}::{hexg()}",
        lambda: "::1",
        lambda: f"::ffff:192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    ])()


ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def rand_str(n, alphabet=ALNUM):
    return "".join(rng.choice(alphabet) for _ in range(n))


def secret():
    """(text, value-start, value-end) within the text: the span is the value."""
    k = rng.randrange(9)
    if k == 0:
        v = "sk-" + rand_str(40)
    elif k == 1:
        v = "sk-proj-" + rand_str(48, ALNUM + "_-")
    elif k == 2:
        v = "AKIA" + rand_str(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    elif k == 3:
        v = "ghp_" + rand_str(36)
    elif k == 4:
        v = "xoxb-" + digits(11) + "-" + digits(12) + "-" + rand_str(24)
    elif k == 5:
        v = "AIza" + rand_str(35, ALNUM + "_-")
    elif k == 6:
        v = "eyJ" + rand_str(20) + ".eyJ" + rand_str(30) + "." + rand_str(43, ALNUM + "_-")
    elif k == 7:
        body = "\n".join(rand_str(64, ALNUM + "+/") for _ in range(3))
        v = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    else:
        name = rng.choice(["password", "api_key", "API_KEY", "secret_key", "access_token", "密码"])
        sep = rng.choice(["=", ": ", "：", " = "])
        value = rand_str(rng.randint(8, 20), ALNUM + "!@#%^&")
        text = f"{name}{sep}{value}"
        return text, len(text) - len(value), len(text)
    return v, 0, len(v)


EN = ["Please contact {} for details.", "My number is {}, call after 6pm.", "Send the invoice to {} today.",
      "The value was {} according to the log.", "Reach us at {}.", "{} is the one on file.",
      "Customer record: {}; verified.", "He wrote \"{}\" in the form.", "Backup contact ({}) confirmed.",
      "Login from {} was blocked."]
ZH = ["请拨打{}联系我们。", "我的号码是{}，请回电。", "发票请发到{}。", "记录显示：{}。", "联系人{}已确认",
      "客户资料（{}）已核实。", "他在表格里写了{}。", "备用联系方式：{}", "来自{}的登录被拦截。", "信息：{}，请保管好。"]

POSITIVE = [
    ("phone", cn_mobile, 90), ("phone", intl_phone, 50), ("email", email, 60), ("cn_id", lambda: cn_id(True), 60),
    ("bank_card", lambda: bank_card(True), 60), ("ipv4", ipv4, 30), ("ipv6", ipv6, 25),
]


def cp(s):
    return len(s)  # Python strings index code points


def positive_line(kind, value):
    tmpl = rng.choice(EN + ZH)
    before, after = tmpl.split("{}")
    text = before + value + after
    return {"text": text, "spans": [{"kind": kind, "start": cp(before), "end": cp(before) + cp(value)}]}


def negatives():
    out = []
    for _ in range(40):
        out.append(f"证件号 {cn_id(valid=False)} 校验失败" if rng.random() < 0.5 else f"ID {cn_id(valid=False)} is a typo.")
    for _ in range(25):
        out.append(f"出生日期不对：{cn_id(bad_date=True)}")
    for _ in range(40):
        card = bank_card(valid=False)
        out.append(rng.choice([f"Card {card} was declined.", f"卡号{card}无效", f"Ref: {card}"]))
    for _ in range(25):
        out.append(rng.choice([f"订单号：{digits(20)}", f"Order #{digits(12)} shipped", f"运单号 SF{digits(13)}",
                               f"流水号{digits(22)}", f"Invoice INV-{digits(8)}-{digits(4)}"]))
    for _ in range(25):
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        out.append(rng.choice([f"日期 {y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                               f"Due {y}/{m:02d}/{d:02d}", f"{y}年{m}月{d}日上午", f"at {y}-{m:02d}-{d:02d}T09:30:00Z",
                               f"Meeting at {rng.randint(1, 12)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} sharp"]))
    for _ in range(20):
        out.append(rng.choice([f"version {rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
                               f"Python 3.{rng.randint(6, 13)}.{rng.randint(0, 9)}", f"v{rng.randint(1, 5)}.{rng.randint(0, 9)}",
                               f"pi = 3.{digits(14)}", f"build 1.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"]))
    for _ in range(20):
        out.append(rng.choice([f"IP {rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)} is invalid",
                               f"subnet 192.168.{rng.randint(0, 255)}", f"ratio {rng.randint(1, 9)}:{rng.randint(1, 9)}:{rng.randint(1, 9)}",
                               f"MAC 00:1A:{rand_str(2, '0123456789ABCDEF')}:3C:4D:5E", "use std::vector<int> or a::b"]))
    for _ in range(20):
        out.append(rng.choice([f"¥{rng.randint(1, 999)},{digits(3)}.{digits(2)}", f"${rng.randint(1, 99)},{digits(3)},{digits(3)}",
                               f"population {rng.randint(1, 999)},{digits(3)},{digits(3)}", f"温度 {rng.randint(-20, 40)}°C",
                               f"邮编 {digits(6)}", f"QQ群 {rng.randint(100000000, 999999999)}"]))
    for _ in range(25):
        out.append(rng.choice([f"号码 12{digits(9)} 不存在", f"call 1{rng.randint(3, 9)}{digits(8)} (10 digits)",
                               f"分机 {digits(4)}", f"timestamp {rng.randint(1600000000, 1800000000)}",
                               f"ms {rng.randint(1600000000, 1800000000)}{digits(3)}", f"ISBN 978-7-{digits(3)}-{digits(5)}-{digits(1)}",
                               f"tel: 555-{rng.randint(100, 199)}-{digits(4)}", "+1 is the score"]))
    for _ in range(20):
        out.append(rng.choice(["write to user at example dot com", "@zhangsan 你好", "email me: alice@localhost",
                               "a@b is not an address", "the @ sign", "name@domain", "foo@.com is broken"]))
    for _ in range(25):
        out.append(rng.choice(["password field is required", "密码错误，请重试", "api_key: <YOUR_API_KEY>",
                               "token count: 1234", "Set API_KEY=$OPENAI_API_KEY in the shell", "sk-learn is a library",
                               "the secret is to keep trying", "password: ****", "api_key={your key}",
                               "Bearer token goes in the header", "请输入密码：", f"UUID {rand_str(8, '0123456789abcdef')}-e89b-12d3-a456-426614174000",
                               f"commit {rand_str(40, '0123456789abcdef')}", "AKIA is a prefix", "ghp_ tokens are GitHub's"]))
    for _ in range(20):
        out.append(rng.choice([f"第{rng.randint(1, 99)}章 第{rng.randint(1, 99)}节", "请在3天内回复", f"共{rng.randint(1, 9999)}人参加",
                               f"面积 {rng.randint(10, 999)}.{digits(2)} 平方米", "Room 1203, Building 5",
                               f"phone: {digits(3)}", f"{digits(5)}-{digits(5)}"]))
    for _ in range(20):
        n = digits(rng.choice([13, 14, 16, 17, 18, 19]))
        n = "7" + n[1:] if rng.random() < 0.5 else "1" + n[1:]  # no card network starts with 1 or 7
        out.append(f"编号 {n}")
    return [{"text": t, "spans": []} for t in out]


def main():
    lines = []
    for kind, make, count in POSITIVE:
        for _ in range(count):
            lines.append(positive_line(kind, make()))
    for _ in range(40):
        text, s, e = secret()
        before = rng.choice(["config: ", "配置 ", "", "export "])
        lines.append({"text": before + text + rng.choice(["", " # do not share", "。"]),
                      "spans": [{"kind": "secret", "start": len(before) + s, "end": len(before) + e}]})
    for _ in range(20):  # two values in one line
        a, b = cn_mobile(), email()
        text = f"电话 {a}，邮箱 {b}"
        sa = text.index(a)
        sb = text.index(b)
        lines.append({"text": text, "spans": [{"kind": "phone", "start": sa, "end": sa + len(a)},
                                              {"kind": "email", "start": sb, "end": sb + len(b)}]})
    negs = negatives()
    rng.shuffle(lines)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "labelled.jsonl"), "w", encoding="utf-8") as f:
        for line in lines + negs:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    n_spans = sum(len(x["spans"]) for x in lines)
    print(f"{len(lines)} positive lines ({n_spans} spans), {len(negs)} negative lines")


if __name__ == "__main__":
    main()
