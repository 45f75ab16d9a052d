"""Random hard lines for the tokenizer oracle comparison: mixed scripts, combining marks,
Greek sigma, CJK and compatibility ideographs, Hangul, controls, odd spaces, over-long
words and invalid UTF-8 bytes. Deterministic.

usage: gen_hard_lines.py SEED COUNT > lines
"""
import random
import sys
import unicodedata
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    " \t\r,.;:'\"!?()[]{}<>#$%&*+-/=@\\^_`|~",
    "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝĀāĂăĄąĆćİıĲĳŁłŒœŠšŸŽžƒǅǈǋ",
    "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρσςτυφχψωΆΈΉΊΌΎΏάέήίόύώΣΣΣ",
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "\u0300\u0301\u0302\u0303\u0308\u0327\u034f\u0345\u302e\u302f\u0f71\u0f72\u0903\u093e\u1d165\u1d16d",
    "生活的真谛是我想在工作天博推〇一二三豈更車\uf900\uf901\ufa30\u3400",
    "한국어조선말가나다라마바사\u1100\u1161\u11a8ㄱㄴ",
    "😂👍🤣😍🦙🚀✅❤️\u200d\u200c\ufe0f\U0001F3FB",
    "\u00a0\u2000\u2003\u3000\u2028\u2029\u0085\u001c\u0000\x7f\u00ad\ufeff\ufffd\ue000",
    "€£¥₹₱½¾©®™…‘’“”–—•·～\uff01\uff08\uff09",
    "กขคงจฉชซญฎ\u0e31\u0e34\u0e35\u0e48เแโใไ កាន់តែពិសេស",
    "אבגדהוזחטיכלמנסעפצקרשת\u05b0\u05b1\u05b4مرحبا\u064b\u064e",
]
pools = ["".join(c for c in p if unicodedata.category(c) != "Cn") for p in pools]
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 2000):
    parts = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.03:
            parts.append(rng.choice([b"\xff", b"\xc3", b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80\x80", b"\xf0\x9f\x98"]))
            continue
        p = rng.choice(pools)
        s = "".join(rng.choice(p) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.5: s += " "
        parts.append(s.replace("\n", " ").encode("utf-8", "surrogatepass"))
    if rng.random() < 0.02:
        parts.append(b"x" * rng.randint(95, 105))
    sys.stdout.buffer.write(b"".join(parts) + b"\n")
