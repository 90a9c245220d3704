"""What each WRF input must hold (wrf-source-facts §2): dimension templates of the variables wrf.exe reads.

Pure data plus tiny helpers. wrf.exe does not check any of this itself (§1.6: a missing or mis-sized field is
read as zeros at debug_level 0), so the validator does.
"""
from __future__ import annotations

from orchestrator.wrf.times import format_wrf_time  # noqa: F401  (re-exported for inputs/consistency)
from orchestrator.wrf.times import try_parse_wrf_time as parse_wrf_time  # noqa: F401  (None on a malformed time)


T, W = "Time", "bdy_width"
X, XS, Y, YS = "west_east", "west_east_stag", "south_north", "south_north_stag"
Z, ZS, SOIL = "bottom_top", "bottom_top_stag", "soil_layers_stag"
LC, SC = "land_cat_stag", "soil_cat_stag"

MASS3D, UDIMS, VDIMS, WDIMS = (T, Z, Y, X), (T, Z, Y, XS), (T, Z, YS, X), (T, ZS, Y, X)
XY, XY_U, XY_V = (T, Y, X), (T, Y, XS), (T, YS, X)

GRID_DIMS = (T, "DateStrLen", X, XS, Y, YS, Z, ZS)


def _same(dims: tuple[str, ...], *names: str) -> dict[str, tuple[str, ...]]:
    return {n: dims for n in names}


# wrfinput variables every run needs (dynamics, vertical coordinate, map factors) — ideal and real data
CORE_VARIABLES: dict[str, tuple[str, ...]] = {
    **_same(MASS3D, "T", "P", "PB", "QVAPOR", "T_INIT", "P_HYD"),
    "U": UDIMS, "V": VDIMS,
    **_same(WDIMS, "W", "PH", "PHB"),
    **_same(XY, "MU", "MUB", "HGT", "MAPFAC_M", "MAPFAC_MX", "MAPFAC_MY", "F", "E", "SINALPHA",
            "COSALPHA", "XLAT", "XLONG", "TSK", "XLAND"),
    **_same(XY_U, "MAPFAC_U", "MAPFAC_UX", "MAPFAC_UY"),
    **_same(XY_V, "MAPFAC_V", "MAPFAC_VX", "MAPFAC_VY", "MF_VX_INV"),
    **_same((T, Z), "ZNU", "FNM", "FNP", "RDNW", "RDN", "DNW", "DN"),
    "ZNW": (T, ZS),
    **_same((T,), "CFN", "CFN1", "CF1", "CF2", "CF3", "RDX", "RDY", "RESM", "ZETATOP", "P_TOP"),
}

# land surface and near-surface fields a real-data wrfinput carries (§2.2); ideal.exe fills what it needs
REAL_VARIABLES: dict[str, tuple[str, ...]] = {
    **_same(XY, "LU_INDEX", "LANDMASK", "LAKEMASK", "TMN", "SST", "VEGFRA", "SHDMAX", "SHDMIN", "SNOALB",
            "ALBBCK", "LAI", "SEAICE", "SNOW", "SNOWH", "SNOWC", "CANWAT", "VAR", "VAR_SSO", "TOPOSLPX",
            "TOPOSLPY", "IVGTYP", "ISLTYP", "T2", "Q2", "TH2", "PSFC", "U10", "V10", "CLAT"),
    **_same(XY_U, "XLAT_U", "XLONG_U"),
    **_same(XY_V, "XLAT_V", "XLONG_V"),
    **_same((T, SOIL, Y, X), "TSLB", "SMOIS", "SH2O"),
    **_same((T, SOIL), "ZS", "DZS"),
    "LANDUSEF": (T, LC, Y, X),
    **_same((T, SC, Y, X), "SOILCTOP", "SOILCBOT"),
}

# the fields real.exe writes to wrfbdy_d01 for every run (§2.4): X-side and Y-side templates
_BDY_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "U": ((T, W, Z, Y), (T, W, Z, XS)),
    "V": ((T, W, Z, YS), (T, W, Z, X)),
    "T": ((T, W, Z, Y), (T, W, Z, X)),
    "PH": ((T, W, ZS, Y), (T, W, ZS, X)),
    "MU": ((T, W, Y), (T, W, X)),
    "QVAPOR": ((T, W, Z, Y), (T, W, Z, X)),
}
BDY_VARIABLES: dict[str, tuple[str, ...]] = {
    f"{field}_{kind}{side}": (xdims if side[0] == "X" else ydims)
    for field, (xdims, ydims) in _BDY_FIELDS.items()
    for kind in ("B", "BT")
    for side in ("XS", "XE", "YS", "YE")
}

LOWINP_VARIABLES: dict[str, tuple[str, ...]] = _same(XY, "SST", "SEAICE", "VEGFRA", "ALBBCK")
FDDA_VARIABLES: dict[str, tuple[str, ...]] = {
    f"{field}_NDG_{age}": dims
    for field, dims in (("U", UDIMS), ("V", VDIMS), ("T", MASS3D), ("Q", MASS3D), ("PH", WDIMS), ("MU", XY))
    for age in ("OLD", "NEW")
}

# moisture species a wrfinput must carry for the microphysics in use (Registry package lines, §2.2)
_WARM = ("QCLOUD", "QRAIN")
MP_SPECIES: dict[int, tuple[str, ...]] = {
    0: (), 1: _WARM, 3: _WARM, 14: _WARM,
    2: _WARM + ("QICE", "QSNOW", "QGRAUP"),
    4: _WARM + ("QICE", "QSNOW"),
    6: _WARM + ("QICE", "QSNOW", "QGRAUP"),
    8: _WARM + ("QICE", "QSNOW", "QGRAUP", "QNICE", "QNRAIN"),
    10: _WARM + ("QICE", "QSNOW", "QGRAUP", "QNICE", "QNRAIN", "QNSNOW", "QNGRAUPEL"),
}
GWD_VARIABLES: dict[str, tuple[str, ...]] = _same(
    XY, "VAR", "CON", "OA1", "OA2", "OA3", "OA4", "OL1", "OL2", "OL3", "OL4"
)
# Noah and Noah-MP data are interchangeable for wrf.exe (Noah-MP state is initialised at start-up), so only
# the field both read is required here
LSM_VARIABLES: dict[int, dict[str, tuple[str, ...]]] = {2: {"SMCREL": (T, SOIL, Y, X)}, 4: {"SMCREL": (T, SOIL, Y, X)}}
OCEAN_VARIABLES: dict[str, tuple[str, ...]] = _same(XY, "H0ML", "TMOML")
URBAN_VARIABLES: dict[str, tuple[str, ...]] = {"FRC_URB2D": XY}

# soil layers wrf.exe derives from sf_surface_physics(1), overriding num_soil_layers (§1.4)
SOIL_LAYERS_BY_LSM: dict[int, int] = {0: 5, 1: 5, 2: 4, 3: 6, 4: 4, 5: 10, 7: 2, 88: 4}

# attributes wrf.exe cannot do without, and those it falls back on when absent (§2.2, §1.3)
REQUIRED_ATTRIBUTES = ("WEST-EAST_GRID_DIMENSION", "SOUTH-NORTH_GRID_DIMENSION", "BOTTOM-TOP_GRID_DIMENSION",
                       "DX", "DY")
EXPECTED_ATTRIBUTES = ("NUM_LAND_CAT", "MMINLU", "MAP_PROJ", "CEN_LAT", "CEN_LON", "TRUELAT1", "TRUELAT2",
                       "STAND_LON", "MOAD_CEN_LAT", "POLE_LAT", "POLE_LON", "GMT", "JULYR", "JULDAY",
                       "ISWATER", "ISLAKE", "ISICE", "ISURBAN", "ISOILWATER", "SF_SURFACE_PHYSICS",
                       "SIMULATION_START_DATE", "SIMULATION_INITIALIZATION_TYPE", "HYPSOMETRIC_OPT")
NEST_ATTRIBUTES = ("PARENT_ID", "I_PARENT_START", "J_PARENT_START", "PARENT_GRID_RATIO")



