"""A synthetic but plausible Suzhou: a registry file (contract section 1) to load and to drive the simulator."""
from __future__ import annotations

import math
import random

CENTRE = (31.2990, 120.5853)  # 观前街, the old town
MAX_RADIUS_M = 12_000
MEAN_RADIUS_M = 4_000
M_PER_DEG_LAT = 111_320

STREETS = (
    "干将路", "人民路", "十全街", "凤凰街", "观前街", "临顿路", "平江路", "道前街", "养育巷", "景德路",
    "东环路", "西环路", "南环路", "北环路", "三香路", "金鸡湖大道", "现代大道", "星湖街", "苏州大道", "旺墩路",
    "长江路", "狮山路", "竹园路", "塔园路", "运河路", "东吴北路", "宝带西路", "吴中大道", "太湖东路", "越溪路",
    "相城大道", "阳澄湖西路", "采莲路", "华元路", "中山南路", "鲈乡路", "汾湖大道", "松陵大道", "学府路", "广济路",
)
PLACES = {
    "commercial": ("苏州中心", "印象城", "石路步行街", "观前商圈", "圆融时代广场", "万达广场", "龙湖天街", "泰华商城", "美罗商城", "永旺梦乐城"),
    "residential": ("桐泾花园", "东港新村", "湖东小区", "玲珑湾", "独墅苑", "彩香新村", "三元新村", "南环新村", "狮山花园", "阳澄湖苑"),
    "office": ("市政务服务中心", "区行政中心", "市民活动中心", "国际科技园", "创意产业园", "税务局", "公积金中心", "科技城管委会"),
    "hospital": ("苏大附一院", "苏大附二院", "市立医院", "儿童医院", "中医院", "妇幼保健院"),
    "scenic": ("拙政园", "虎丘", "寒山寺", "留园", "山塘街", "金鸡湖景区", "平江历史街区", "盘门"),
}
STREET_USAGE = (("commercial", 0.6), ("residential", 0.3), ("office", 0.1))
CARPARK_USAGE = (("commercial", 0.4), ("residential", 0.3), ("office", 0.15), ("hospital", 0.07), ("scenic", 0.08))
SHARED_HOURS = ("18:00-08:00", "18:30-07:30", "19:00-07:00")
# ids of the bundled tariff catalog (billing/tariffs/examples), so simulated stays are priced
ON_STREET_TARIFFS = ("beijing-onstreet-class1", "nantong-onstreet", "nantong-onstreet", None)
OFF_STREET_TARIFFS = {"residential": "residential-pass-lot"}


def district_of(dx_m: float, dy_m: float) -> str:
    """Suzhou's districts by direction and distance from the old town (east = 工业园区)."""
    r = math.hypot(dx_m, dy_m)
    if r < 2_200:
        return "gusu"
    angle = math.degrees(math.atan2(dy_m, dx_m))  # 0 east, 90 north
    if -45 <= angle < 45:
        return "sip"
    if 45 <= angle < 135:
        return "xiangcheng"
    if angle >= 135 or angle < -135:
        return "huqiu"
    return "wujiang" if r > 8_000 else "wuzhong"


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x, acc = rng.random(), 0.0
    for value, w in weighted:
        acc += w
        if x < acc:
            return value
    return weighted[-1][0]


def _position(rng: random.Random, centre: tuple[float, float]) -> tuple[float, float, float, float]:
    """Exponentially distributed distance from the centre: dense old town, sparse edges."""
    r = min(MAX_RADIUS_M, rng.expovariate(1 / MEAN_RADIUS_M))
    a = rng.uniform(0, 2 * math.pi)
    dx, dy = r * math.cos(a), r * math.sin(a)
    lat = centre[0] + dy / M_PER_DEG_LAT
    lon = centre[1] + dx / (M_PER_DEG_LAT * math.cos(math.radians(centre[0])))
    return round(lat, 6), round(lon, 6), dx, dy


def _carpark_total(rng: random.Random) -> int:
    """Most car parks are small; a few malls and hospitals hold over a thousand."""
    return max(50, min(1500, int(rng.lognormvariate(math.log(95), 0.8))))


def generate_city(n_lots: int, *, seed: int = 1, centre: tuple[float, float] = CENTRE) -> dict:
    """A GeoJSON FeatureCollection of `n_lots` car parks, the same for the same seed."""
    rng = random.Random(seed)
    n_ops = max(3, min(60, n_lots // 60))
    width = max(4, len(str(n_lots)))
    features = []
    for i in range(1, n_lots + 1):
        lat, lon, dx, dy = _position(rng, centre)
        x = rng.random()
        props: dict = {
            "operator": f"op-{rng.randint(1, n_ops):02d}",
            "district": district_of(dx, dy),
        }
        if x < 0.45:
            usage = _pick(rng, STREET_USAGE)
            n = int(rng.triangular(10, 120, 30))
            street = rng.choice(STREETS)
            props.update(
                id=f"ST{i:0{width}d}", name=f"{street}路内泊位{rng.randint(1, 30)}段", kind="on_street", total=n,
                berths=[f"B{k:03d}" for k in range(1, n + 1)], tariff=rng.choice(ON_STREET_TARIFFS),
            )
        else:
            usage = _pick(rng, CARPARK_USAGE)
            counting = x >= 0.95
            props.update(
                id=f"{'CN' if counting else 'CP'}{i:0{width}d}", name=f"{rng.choice(PLACES[usage])}{'停车场' if rng.random() < 0.6 else '地下车库'}",
                kind="off_street", total=_carpark_total(rng),
                tariff=OFF_STREET_TARIFFS.get(usage, "suzhou-offstreet") if rng.random() < 0.8 else None,
            )
            if rng.random() < (0.5 if usage == "office" else 0.2 if counting else 0.0):
                props["shared_hours"] = rng.choice(SHARED_HOURS)
                usage = "office"
                props["name"] = f"{rng.choice(PLACES['office'])}停车场(错时共享)"
            if counting:
                props["reports"] = "counts"
        props["usage"] = usage  # not in the contract; the simulator's day rhythm, ignored on import
        if props.get("tariff") is None:
            props.pop("tariff", None)
        props = {"id": props.pop("id"), "name": props.pop("name"), "kind": props.pop("kind"), **props}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def city_summary(city: dict) -> dict:
    """Counts a person checks at a glance: lots by kind, spaces, sensor berths."""
    props = [f["properties"] for f in city["features"]]
    return {
        "lots": len(props),
        "on_street": sum(p["kind"] == "on_street" for p in props),
        "gated": sum(p["kind"] == "off_street" and p.get("reports") != "counts" for p in props),
        "counting": sum(p.get("reports") == "counts" for p in props),
        "shared_hours": sum("shared_hours" in p for p in props),
        "spaces": sum(p["total"] for p in props),
        "sensor_berths": sum(len(p.get("berths") or ()) for p in props),
    }
