"""Metadata standards, XMP namespaces, IPTC property maps and IIM dataset limits."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

EXIF: Final = "EXIF"
IIM: Final = "IPTC-IIM"
XMP: Final = "XMP"
C2PA: Final = "C2PA"


#: XMP namespaces by canonical prefix; keys are reported with these prefixes whatever the file
#: declared, so ``dc:source`` and ``photoshop:Source`` never collide.
XMP_NAMESPACES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "x": "adobe:ns:meta/",
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "dc": "http://purl.org/dc/elements/1.1/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
        "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
        "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
        "stRef": "http://ns.adobe.com/xap/1.0/sType/ResourceRef#",
        "xmpGImg": "http://ns.adobe.com/xap/1.0/g/img/",
        "xmpNote": "http://ns.adobe.com/xmp/note/",
        "xmpDM": "http://ns.adobe.com/xmp/1.0/DynamicMedia/",
        "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
        "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
        "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
        "exif": "http://ns.adobe.com/exif/1.0/",
        "exifEX": "http://cipa.jp/exif/1.0/",
        "aux": "http://ns.adobe.com/exif/1.0/aux/",
        "tiff": "http://ns.adobe.com/tiff/1.0/",
        "crs": "http://ns.adobe.com/camera-raw-settings/1.0/",
        "lr": "http://ns.adobe.com/lightroom/1.0/",
        "pdf": "http://ns.adobe.com/pdf/1.3/",
        "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
        "stArea": "http://ns.adobe.com/xmp/sType/Area#",
        "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
        "photomechanic": "http://ns.camerabits.com/photomechanic/1.0/",
        "GettyImagesGIFT": "http://xmp.gettyimages.com/gift/1.0/",
    }
)

#: The IPTC property each EXIF tag carries (MWG/IPTC mapping).
EXIF_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Image ImageDescription": "description",
        "Image Artist": "creator",
        "Image Copyright": "copyright",
        "EXIF DateTimeOriginal": "date_created",
        "Image XPTitle": "title",
        "Image XPAuthor": "creator",
        "Image XPKeywords": "keywords",
    }
)

#: The IPTC property each IIM dataset carries.
# fmt: off
IIM_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType({
    "2:5": "title", "2:12": "subject_code", "2:25": "keywords", "2:40": "instructions",
    "2:55": "date_created", "2:60": "time_created", "2:80": "creator",
    "2:85": "creator_job_title", "2:90": "city", "2:92": "sublocation",
    "2:95": "province_state", "2:100": "country_code", "2:101": "country", "2:103": "job_id",
    "2:105": "headline", "2:110": "credit_line", "2:115": "source", "2:116": "copyright",
    "2:120": "description", "2:122": "description_writer",
})
# fmt: on

#: The IPTC property each XMP key carries; ``dc:source`` deliberately carries none.
XMP_PROPERTIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "dc:description": "description",
        "dc:title": "title",
        "dc:creator": "creator",
        "dc:rights": "copyright",
        "dc:subject": "keywords",
        "photoshop:Headline": "headline",
        "photoshop:Credit": "credit_line",
        "photoshop:Source": "source",
        "photoshop:DateCreated": "date_created",
        "photoshop:TransmissionReference": "job_id",
        "photoshop:Instructions": "instructions",
        "photoshop:City": "city",
        "photoshop:State": "province_state",
        "photoshop:Country": "country",
        "photoshop:AuthorsPosition": "creator_job_title",
        "photoshop:CaptionWriter": "description_writer",
        "Iptc4xmpCore:Location": "sublocation",
        "Iptc4xmpCore:CountryCode": "country_code",
        "Iptc4xmpCore:SubjectCode": "subject_code",
        "Iptc4xmpExt:PersonInImage": "person_in_image",
        "Iptc4xmpExt:DigitalSourceType": "digital_source_type",
        "plus:ImageSupplier/plus:ImageSupplierName": "image_supplier",
        "exif:DateTimeOriginal": "date_created",
        "tiff:ImageDescription": "description",
        "tiff:Artist": "creator",
        "tiff:Copyright": "copyright",
    }
)

#: Maximum value length in bytes of IIM datasets (IPTC-IIM 4.2); conforming writers cut here.
IIM_MAX_BYTES: Final[Mapping[str, int]] = MappingProxyType({
    "2:5": 64, "2:25": 64, "2:40": 256, "2:80": 32, "2:85": 32, "2:90": 32, "2:92": 32,
    "2:95": 32, "2:100": 3, "2:101": 64, "2:103": 32, "2:105": 256, "2:110": 32, "2:115": 32,
    "2:116": 128, "2:120": 2000, "2:122": 32,
})  # fmt: skip

#: Properties that hold a caption.
CAPTION_PROPERTIES: Final = frozenset({"description"})
#: Properties that say who made or supplied an image.
CREDIT_PROPERTIES: Final = frozenset({"credit_line", "source", "creator", "copyright",
                                      "image_supplier"})  # fmt: skip
