#!/usr/bin/env python3
"""
Translates template.yaml with aws-sam-translator (the SAM transform CloudFormation itself applies)
for two stack names in the same account and region, and checks what AWS would create:

- no resource has a fixed physical name: every name-like property (top-level, ending in "Name")
  must differ between the two stacks or come from a parameter or another resource; a name SAM
  generates (ScheduleV2 uses the logical id when no Name is given) counts like one written by hand;
- every Lambda function logs to a log group of the stack with a retention;
- every SQS queue keeps messages 14 days;
- no role is granted X-Ray twice (SAM adds AWSXrayWriteOnlyAccess to a traced state machine's role).

Writes the first translation to <out> (default .tmp/sam-translated.json) for cfn-lint.
aws-sam-translator ships with cfn-lint; CI runs this where it is installed (see .ci/run).

  python3 scripts/check-sam-translate.py [template.yaml] [out.json]
"""
import copy
import re
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

REGION, ACCOUNT, PARTITION = "eu-west-1", "123456789012", "aws"
STACKS = ("pxc-tls-ops", "pxc-tls-ops-staging")
# Names scoped to their parent, not to the account and region: an inline policy's name only has to
# be unique on the role it is attached to.
SCOPED_NAMES = {("AWS::IAM::Policy", "PolicyName")}
XRAY_MANAGED = ("AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess")
FOURTEEN_DAYS = 1209600


class NoManagedPolicies:
    """Policy templates and ARNs need no IAM lookups; a name would fail here rather than call AWS."""

    def load(self):
        return {}


def packaged(template):
    """What `sam package` leaves for the transform: local code and definitions become S3 locations."""
    t = copy.deepcopy(template)
    for section in [t.get("Globals", {}).get("Function", {})] + [
        r.get("Properties", {}) for r in t["Resources"].values()
    ]:
        if isinstance(section.get("CodeUri"), str) and not section["CodeUri"].startswith("s3://"):
            section["CodeUri"] = "s3://bucket/code.zip"
        if isinstance(section.get("DefinitionUri"), str) and not section["DefinitionUri"].startswith("s3://"):
            section["DefinitionUri"] = "s3://bucket/definition.json"
    return t


def translate(template, stack):
    return transform(packaged(template), {"AWS::StackName": stack, "AWS::Region": REGION}, NoManagedPolicies())


def resolve(value, stack, parameters, resources):
    """A value with intrinsics made concrete where they do not depend on a parameter or a resource."""
    pseudo = {"AWS::StackName": stack, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION}
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            if arg in pseudo:
                return pseudo[arg]
            return "{%s:%s}" % ("parameter" if arg in parameters else "resource", arg)
        if fn == "Fn::GetAtt":
            return "{resource:%s}" % (arg[0] if isinstance(arg, list) else arg.split(".")[0])
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            out = text
            for name in set(re.findall(r"\$\{([^}!]+)\}", text)):
                repl = extra[name] if name in extra else {"Ref": name} if "." not in name else {"Fn::GetAtt": name}
                out = out.replace("${%s}" % name, str(resolve(repl, stack, parameters, resources)))
            return out
        if fn == "Fn::Join":
            return arg[0].join(str(resolve(v, stack, parameters, resources)) for v in arg[1])
        if fn == "Fn::If":
            return "{condition:%s}" % arg[0]
    return value


def name_properties(translated, stack):
    parameters = translated.get("Parameters", {})
    resources = translated["Resources"]
    for logical_id, resource in resources.items():
        for key, value in (resource.get("Properties") or {}).items():
            if key.endswith("Name") and (resource["Type"], key) not in SCOPED_NAMES:
                yield (logical_id, resource["Type"], key), resolve(value, stack, parameters, resources)


def main():
    template_path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(".tmp", "sam-translated.json")
    with open(template_path) as f:
        template = yaml_parse(f.read())
    a, b = (translate(template, stack) for stack in STACKS)
    problems = []

    names_b = dict(name_properties(b, STACKS[1]))
    for where, value_a in name_properties(a, STACKS[0]):
        value_b = names_b.get(where)
        if isinstance(value_a, str) and value_a == value_b and "{" not in value_a:
            problems.append("%s (%s).%s is %r in both stacks: a second stack cannot be created" % (*where, value_a))

    resources = a["Resources"]
    for logical_id, r in resources.items():
        props = r.get("Properties") or {}
        if r["Type"] == "AWS::Lambda::Function":
            group = (props.get("LoggingConfig") or {}).get("LogGroup")
            target = resources.get(group["Ref"]) if isinstance(group, dict) and "Ref" in group else None
            if not target or target["Type"] != "AWS::Logs::LogGroup" or "RetentionInDays" not in target["Properties"]:
                problems.append("%s logs to a log group without retention (LoggingConfig.LogGroup %r)" % (logical_id, group))
        if r["Type"] == "AWS::SQS::Queue" and props.get("MessageRetentionPeriod") != FOURTEEN_DAYS:
            problems.append("%s keeps messages %s s, not 14 days" % (logical_id, props.get("MessageRetentionPeriod", "345600 (default)")))
        if r["Type"] == "AWS::IAM::Role":
            managed = [str(arn) for arn in props.get("ManagedPolicyArns", []) if any(x in str(arn) for x in XRAY_MANAGED)]
            inline = [
                p["PolicyName"]
                for p in props.get("Policies", [])
                if "xray:PutTraceSegments" in json.dumps(p.get("PolicyDocument"))
            ]
            if len(managed) + len(inline) > 1:
                problems.append("%s is granted X-Ray %d times: %s" % (logical_id, len(managed) + len(inline), managed + inline))

    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(a, f, indent=1)
    for p in problems:
        print("check-sam-translate: " + p, file=sys.stderr)
    print(
        "check-sam-translate: %d resources for stacks %s and %s, %d problem(s); translation in %s"
        % (len(resources), STACKS[0], STACKS[1], len(problems), out_path)
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
