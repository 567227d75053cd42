#!/usr/bin/env python3
"""attack.py - the outside attacker of tests/e2e_attack.sh (plain UDP only).

Every mode binds its sockets to a loopback address of its own (127.0.0.2
and up, never a forged source), sends to 127.0.0.1:PORT, is bounded in
datagrams and seconds, and prints one result line.

  amp PORT SRC KEY          each small-request kind once; "KIND req ans ratio"
  rate PORT SRC N           N tiny GET /fota from one port; max answer ratio
  rst PORT SRC N            N four-byte RSTs (no key needed)
  report PORT SRC N IMEI|- N POST /report, each from a new port (- = a new
                            IMEI each); codes seen
  raw PORT SRC HEX          one datagram, its answer as "code len"
  hello PORT SRC0 NADDR RATE SECONDS   14-byte forged DTLS ClientHello
                            records from NADDR addresses starting at SRC0,
                            a new source port per datagram, RATE per second
"""
import socket, sys, time, random, select

def opt(last, num, val):
    d = num - last
    out = b''
    l = len(val)
    def nib(x):
        if x < 13: return x, b''
        if x < 269: return 13, bytes([x - 13])
        return 14, (x - 269).to_bytes(2, 'big')
    dn, dx = nib(d); ln, lx = nib(l)
    return bytes([dn << 4 | ln]) + dx + lx + val

def pdu(code, mid, path=(), query=(), payload=b'', token=b'', typ=0, extra=()):
    opts = [(11, p.encode()) for p in path] + [(15, q.encode()) for q in query] + list(extra)
    opts.sort(key=lambda o: o[0])
    out = bytes([0x40 | typ << 4 | len(token), code]) + mid.to_bytes(2, 'big') + token
    last = 0
    for n, v in opts:
        out += opt(last, n, v); last = n
    if payload: out += b'\xff' + payload
    return out

def sock(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0)); s.settimeout(2)
    return s

def ask(s, port, m):
    s.sendto(m, ('127.0.0.1', port))
    try:
        r = s.recv(4096)
    except socket.timeout:
        return None
    return r

def code(r):
    return '%d.%02d' % (r[1] >> 5, r[1] & 31) if r else 'none'

def amp(port, src, key):
    q = ['project_key=' + key, 'imei=861234567890123', 'firmware_name=DEMOPROJ_Luat_RDA8910',
         'core_version=17', 'dfota=1', 'version=1.0.0']
    kinds = [
        ('get-fota-empty', pdu(1, 1, ['fota'])),
        ('get-fota-imei-only', pdu(1, 2, ['fota'], ['imei=1'])),
        ('get-fota-bad-key', pdu(1, 3, ['fota'], ['project_key=x'] + q[1:])),
        ('get-fota-bad-field', pdu(1, 4, ['fota'], q[:1] + ['imei=86123456789012x'] + q[2:])),
        ('get-wellknown', pdu(1, 5, ['.well-known', 'core'])),
        ('get-unknown', pdu(1, 6, ['x'])),
        ('post-report-empty', pdu(2, 7, ['report'])),
        ('post-report-bad', pdu(2, 8, ['report'], payload=b'x')),
        ('get-stats-nonadmin', pdu(1, 9, ['stats'])),
        ('get-fota-bad-block', pdu(1, 10, ['fota'], q, extra=[(23, b'\x0f')])),
        ('con-ping', bytes([0x40, 0, 0, 11])),
        ('proxy-uri', pdu(1, 12, extra=[(35, b'x')])),
        ('proxy-scheme', pdu(1, 13, extra=[(39, b'coap')])),
        ('unknown-critical', pdu(1, 14, ['fota'], extra=[(9, b'')])),
        ('unknown-critical-bare', pdu(1, 15, extra=[(13, b'')])),
        ('put-fota', pdu(3, 16, ['fota'])),
        ('get-root', pdu(1, 17)),
        ('unknown-critical-min', pdu(1, 18, extra=[(9, b'')])),
        ('non-proxy-uri', pdu(1, 19, typ=1, extra=[(35, b'x')])),
    ]
    info = [  # exempt: a full valid query carries the product key
        ('block0-full-query', pdu(1, 20, ['fota'], q, extra=[(23, b'\x06')])),
    ]
    worst = 0.0
    for name, m in kinds:
        s = sock(src)
        r = ask(s, port, m)
        n = len(r) if r else 0
        ratio = n / len(m)
        worst = max(worst, ratio)
        print('%s req=%d ans=%d code=%s ratio=%.2f' % (name, len(m), n, code(r), ratio))
        s.close()
    for name, m in info:
        s = sock(src)
        r = ask(s, port, m)
        n = len(r) if r else 0
        print('(exempt) %s req=%d ans=%d code=%s ratio=%.2f' % (name, len(m), n, code(r), n / len(m)))
        s.close()
    print('WORST %.2f' % worst)

def rate(port, src, n):
    s = sock(src); s.settimeout(0.5)
    m0 = pdu(1, 0, ['fota'])
    worst, codes = 0.0, {}
    for i in range(n):
        m = pdu(1, i & 0xffff, ['fota'])
        r = ask(s, port, m)
        if r:
            worst = max(worst, len(r) / len(m))
            codes[code(r)] = codes.get(code(r), 0) + 1
    print('RATE req=%d worst=%.2f codes=%s' % (len(m0), worst, sorted(codes.items())))

def rst(port, src, n):
    s = sock(src)
    t = time.time()
    for i in range(n):
        s.sendto(bytes([0x70, 0, (i >> 8) & 0xff, i & 0xff]), ('127.0.0.1', port))
        if i % 200 == 199: time.sleep(0.01)
    print('RST sent=%d bytes=%d seconds=%.1f' % (n, 4 * n, time.time() - t))

def report(port, src, n, imei):
    codes = {}
    for i in range(n):
        s = sock(src); s.settimeout(1)  # a new port each: past the per-source rate_limit
        im = imei if imei != '-' else '86%013d' % (i + random.randrange(10**9) * 1000)
        m = pdu(2, i & 0xffff, ['report'], payload=('imei=%s&result=0&detail=flood' % im).encode())
        r = ask(s, port, m)
        s.close()
        codes[code(r)] = codes.get(code(r), 0) + 1
    print('REPORT ' + ' '.join('%s=%d' % kv for kv in sorted(codes.items())))

def raw(port, src, hexs):
    s = sock(src)
    r = ask(s, port, bytes.fromhex(hexs))
    print('%s %d %s' % (code(r), len(r) if r else 0, (r or b'').split(b'\xff', 1)[-1][:80].decode('ascii', 'replace')))

def hello(port, src0, naddr, rate_, seconds):
    base = src0.rsplit('.', 1)
    rec = bytes([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])  # type 22 .. byte 13 = 1
    socks = []
    t0, sent = time.time(), 0
    while time.time() - t0 < seconds:
        addr = '%s.%d' % (base[0], int(base[1]) + sent % naddr)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 0))
        s.sendto(rec, ('127.0.0.1', port))
        s.close()
        sent += 1
        nxt = t0 + sent / rate_
        d = nxt - time.time()
        if d > 0: time.sleep(d)
    print('HELLO sent=%d seconds=%.1f' % (sent, time.time() - t0))

m = sys.argv[1]; port = int(sys.argv[2])
if m == 'amp': amp(port, sys.argv[3], sys.argv[4])
elif m == 'rate': rate(port, sys.argv[3], int(sys.argv[4]))
elif m == 'rst': rst(port, sys.argv[3], int(sys.argv[4]))
elif m == 'report': report(port, sys.argv[3], int(sys.argv[4]), sys.argv[5])
elif m == 'raw': raw(port, sys.argv[3], sys.argv[4])
elif m == 'hello': hello(port, sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
