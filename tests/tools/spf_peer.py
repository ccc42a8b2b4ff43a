#!/usr/bin/env python3
"""An independent SPF implementation (pyspf) for interoperability tests.

usage: spf_peer.py CASES_JSON
  CASES_JSON: {"zone": {name: {type: [records]}}, "temporary": [names], "cases": [[ip, sender, helo], ...]}
  prints one result word per case (pass, fail, softfail, neutral, none, temperror, permerror),
  every look-up answered from the zone (no query leaves the process): a name not in the zone is
  NXDOMAIN, a type it lacks is no record, a name in "temporary" fails for now.
"""
import json
import sys

import spf


def main():
    data = json.load(open(sys.argv[1]))
    zone = {name.lower(): records for name, records in data["zone"].items()}
    temporary = set(data.get("temporary", []))

    def lookup(name, qtype, *args, **kwargs):
        name = name.rstrip(".").lower()
        if name in temporary:
            raise spf.TempError("DNS failure")
        if name not in zone:
            return []
        answers = []
        for value in zone[name].get(qtype, []):
            if qtype == "TXT":
                answers.append(((name, qtype), [value.encode()]))
            elif qtype == "MX":
                answers.append(((name, qtype), (10, value)))
            else:
                answers.append(((name, qtype), value))
        return answers

    spf.DNSLookup = lookup
    for ip, sender, helo in data["cases"]:
        result, _ = spf.check2(i=ip, s=sender, h=helo)
        print(result)


main()
