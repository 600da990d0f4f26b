"""`python -m study.nets` (`make models`): the depth / parameters / multiply-adds table of every
net, checked against the paper's counts (study.paper)."""

from study import paper
from study.nets import NetConfig, build_cifar_net, build_net, count_parameters, forward_macs
from study.nets.config import UNITS

#: The published bottleneck counts are rounded to 0.1M, and they seem to leave BN's parameters
#: out (ResNet-1001: 10,327,706 with them, 10.18M without, published 10.2M): a 2% band.
BOTTLENECK_PARAMS_BAND = 0.02
#: (arch, norm, init) of the normalisation and init variants whose counts are listed.
VARIANTS = (
    ("plain", "batch", "he"),
    ("plain", "none", "he"),
    ("resnet", "batch", "he"),
    ("resnet", "batch", "zero_gamma"),
    ("resnet", "none", "he"),
    ("resnet", "none", "fixup"),
    ("resnet", "none", "skipinit"),
)


def main() -> None:
    print(f"{'depth':>6} {'params':>12} {'paper':>12} {'MACs plain':>12} {'MACs resnet':>12} {'public':>8}  check")
    all_ok = True
    for depth in paper.DEPTHS:
        plain, resnet = build_cifar_net(depth, residual=False), build_cifar_net(depth, residual=True)
        params, macs = count_parameters(resnet), forward_macs(resnet)
        ok = params == count_parameters(plain) == paper.PARAMS[depth]
        public = paper.MACS.get(depth)
        ok &= public is None or abs(macs / public - 1) < 0.05  # the public counts are rounded: a 5% band
        all_ok &= ok
        print(
            f"{depth:>6} {params:>12,} {paper.PARAMS[depth]:>12,} {forward_macs(plain) / 1e6:>11.1f}M "
            f"{macs / 1e6:>11.1f}M {f'{public / 1e6:.0f}M' if public else '—':>8}  {'ok' if ok else 'MISMATCH'}"
        )
    for option in ("B", "C"):
        print(f"ResNet-20 option {option}: {count_parameters(build_cifar_net(20, True, option)):,} parameters")
    print(
        f"\nHe et al. 2016, bottleneck blocks, option B\n{'depth':>6} {'unit':>9} {'params':>12} {'published':>10} "
        f"{'MACs':>9}  check"
    )
    for depth in paper.BOTTLENECK_DEPTHS:
        for unit in UNITS:
            net = build_net(NetConfig("resnet", depth, "B", unit=unit, block="bottleneck"))
            params, published = count_parameters(net), paper.BOTTLENECK_PARAMS_M[depth]
            ok = abs(params / (published * 1e6) - 1) < BOTTLENECK_PARAMS_BAND
            all_ok &= ok
            print(
                f"{depth:>6} {unit:>9} {params:>12,} {published:>9.1f}M {forward_macs(net) / 1e6:>8.0f}M  "
                f"{'ok' if ok else 'MISMATCH'}"
            )
    print(
        "\nWithout BN, and the inits that start each residual branch at zero (a conv keeps its bias "
        "without BN;\nFixup's scalars replace them)\n"
        f"{'net':>34} {'depth 20':>10} {'depth 56':>10} {'depth 110':>10}"
    )
    for arch, norm, init in VARIANTS:
        counts = [count_parameters(build_net(NetConfig(arch, depth, norm=norm, init=init))) for depth in (20, 56, 110)]
        name = NetConfig(arch, 20, norm=norm, init=init).describe().replace("-20", "")
        print(f"{name:>34} " + " ".join(f"{n:>10,}" for n in counts))
    if not all_ok:
        raise SystemExit("parameter or multiply-add counts disagree with study/paper.py")


if __name__ == "__main__":
    main()
