import json, sys, datetime
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

def der_items(data):
    """Top-level TLVs of DER data: (tag, content) pairs."""
    out, i = [], 0
    while i < len(data):
        tag = data[i]; i += 1
        n = data[i]; i += 1
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(data[i:i + k], "big"); i += k
        out.append((tag, data[i:i + n])); i += n
    return out

def oid_str(content):
    first = content[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for b in content[1:]:
        v = (v << 7) | (b & 0x7f)
        if not b & 0x80:
            parts.append(v); v = 0
    return ".".join(map(str, parts))

def qc(value):
    out = []
    for _, stmt in der_items(der_items(value)[0][1]):
        items = der_items(stmt)
        entry = {"oid": oid_str(items[0][1])}
        if len(items) > 1:
            tag, content = items[1]
            if tag == 0x02:
                entry["int"] = int.from_bytes(content, "big")
            elif tag == 0x30:
                inner = der_items(content)
                if inner and inner[0][0] == 0x06:
                    entry["oids"] = [oid_str(c) for _, c in inner]
                else:
                    entry["pds"] = [[c.decode() for _, c in der_items(loc)] for _, loc in inner]
        out.append(entry)
    return out

def name(n):
    return [[a.oid.dotted_string, a.value, int(a._type.value)] for a in n]

ee = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
ee.verify_directly_issued_by(ca)
res = {
    "version": ee.version.value,
    "serial": format(ee.serial_number, "x"),
    "not_before": int(ee.not_valid_before_utc.timestamp()),
    "not_after": int(ee.not_valid_after_utc.timestamp()),
    "issuer_matches": ee.issuer == ca.subject,
    "subject": name(ee.subject),
    "extensions": {},
}
for ext in ee.extensions:
    oid, v = ext.oid.dotted_string, ext.value
    d = {"critical": ext.critical}
    if isinstance(v, x509.KeyUsage):
        d["bits"] = [k for k in ["digital_signature", "content_commitment", "key_encipherment",
                                  "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign"]
                     if getattr(v, k)]
    elif isinstance(v, x509.ExtendedKeyUsage):
        d["oids"] = [o.dotted_string for o in v]
    elif isinstance(v, x509.BasicConstraints):
        d["ca"] = v.ca
        d["path_length"] = v.path_length
    elif isinstance(v, x509.SubjectKeyIdentifier):
        d["hex"] = v.digest.hex()
    elif isinstance(v, x509.AuthorityKeyIdentifier):
        d["hex"] = v.key_identifier.hex()
    elif isinstance(v, x509.AuthorityInformationAccess):
        d["access"] = [[a.access_method.dotted_string, a.access_location.value] for a in v]
    elif isinstance(v, x509.CRLDistributionPoints):
        d["urls"] = [[n.value for n in dp.full_name] for dp in v]
    elif isinstance(v, x509.CertificatePolicies):
        pols = []
        for p in v:
            q = []
            for x in p.policy_qualifiers or []:
                if isinstance(x, str):
                    q.append(["cps", x])
                else:
                    q.append(["notice", x.explicit_text])
            pols.append({"oid": p.policy_identifier.dotted_string, "qualifiers": q})
        d["policies"] = pols
    elif isinstance(v, x509.SubjectAlternativeName):
        names = []
        for g in v:
            if isinstance(g, x509.DNSName):
                names.append(["dns", g.value])
            elif isinstance(g, x509.RFC822Name):
                names.append(["email", g.value])
            elif isinstance(g, x509.DirectoryName):
                names.append(["dir", name(g.value)])
            elif isinstance(g, x509.OtherName):
                names.append(["other", g.type_id.dotted_string, g.value.hex()])
            else:
                names.append(["?", str(g)])
        d["names"] = names
    elif isinstance(v, x509.PrecertPoison):
        d["poison"] = True
    elif isinstance(v, x509.UnrecognizedExtension):
        d["hex"] = v.value.hex()
        if oid == "1.3.6.1.5.5.7.1.3":
            d["statements"] = qc(v.value)
    elif oid == "1.3.6.1.5.5.7.1.3":
        d["hex"] = v.public_bytes().hex()
        d["statements"] = qc(v.public_bytes())
    else:
        d["repr"] = repr(v)
    res["extensions"][oid] = d
print(json.dumps(res))
