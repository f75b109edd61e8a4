//! Office documents built in memory: zips of minimal PPTX, DOCX and
//! OpenDocument parts.

use std::io::{Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// A zip archive of the given files, deflated.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in files {
        writer
            .start_file(*name, options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        writer
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    writer
        .finish()
        .unwrap_or_else(|e| panic!("zip: {e}"))
        .into_inner()
}

/// The namespaces a PresentationML part declares.
pub const PML: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#;

/// A slide (or, with `root` = `p:notes`, a notes page) drawing `shapes`.
pub fn slide_xml(root: &str, shapes: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<{root} {PML}><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>{shapes}</p:spTree></p:cSld></{root}>"#
    )
}

/// A minimal PPTX: one slide per entry, each a text box with that text.
pub fn simple_pptx(slides: &[&str]) -> Vec<u8> {
    let slides: Vec<String> = slides
        .iter()
        .map(|text| {
            slide_xml(
                "p:sld",
                &format!(
                    r#"<p:sp><p:nvSpPr><p:cNvPr id="2" name="TextBox"/><p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>"#
                ),
            )
        })
        .collect();
    pptx_of(&slides)
}

/// A minimal PPTX with these slide parts, in file-name order.
pub fn pptx_of(slides: &[String]) -> Vec<u8> {
    let mut parts: Vec<(String, String)> = vec![(
        "[Content_Types].xml".into(),
        r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#.into(),
    )];
    let mut ids = String::new();
    let mut rels = String::new();
    for (i, xml) in slides.iter().enumerate() {
        let n = i + 1;
        ids.push_str(&format!(r#"<p:sldId id="{}" r:id="rId{n}"/>"#, 255 + n));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide{n}.xml"/>"#
        ));
        parts.push((format!("ppt/slides/slide{n}.xml"), xml.clone()));
    }
    parts.push((
        "ppt/presentation.xml".into(),
        format!(r#"<?xml version="1.0"?><p:presentation {PML}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#),
    ));
    parts.push((
        "ppt/_rels/presentation.xml.rels".into(),
        format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#),
    ));
    let files: Vec<(&str, &[u8])> = parts
        .iter()
        .map(|(n, x)| (n.as_str(), x.as_bytes()))
        .collect();
    zip_of(&files)
}

/// The namespaces a WordprocessingML part declares.
pub const WML: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing""#;

/// `word/document.xml` with this body.
pub fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {WML}><w:body>{body}</w:body></w:document>"#
    )
}

/// A minimal DOCX: one plain paragraph per entry.
pub fn simple_docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
        .collect();
    zip_of(&[("word/document.xml", document_xml(&body).as_bytes())])
}

pub const RELS_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
pub const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

pub fn rels(entries: &[(&str, &str, &str)]) -> String {
    let mut xml = format!(r#"<?xml version="1.0"?><Relationships xmlns="{RELS_NS}">"#);
    for (id, kind, target) in entries {
        let mode = if target.starts_with("http") {
            r#" TargetMode="External""#
        } else {
            ""
        };
        xml.push_str(&format!(
            r#"<Relationship Id="{id}" Type="{REL}/{kind}" Target="{target}"{mode}/>"#
        ));
    }
    xml + "</Relationships>"
}

// ---------------------------------------------------------------- PPTX

pub fn shape(placeholder: &str, paragraphs: &str) -> String {
    format!(
        r#"<p:sp><p:nvSpPr><p:cNvPr id="3" name="Shape"/><p:cNvSpPr/><p:nvPr>{placeholder}</p:nvPr></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/>{paragraphs}</p:txBody></p:sp>"#
    )
}

pub fn para(text: &str) -> String {
    format!(r#"<a:p><a:r><a:rPr lang="en-US"/><a:t>{text}</a:t></a:r></a:p>"#)
}

pub fn para_at(level: u32, text: &str) -> String {
    format!(r#"<a:p><a:pPr lvl="{level}"/><a:r><a:t>{text}</a:t></a:r></a:p>"#)
}

pub const TITLE: &str = r#"<p:ph type="title"/>"#;
pub const BODY: &str = r#"<p:ph idx="1"/>"#;

pub fn table(rows: &[&[&str]]) -> String {
    let mut xml = String::from(
        r#"<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="Table"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr><p:xfrm/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl><a:tblGrid><a:gridCol w="100"/></a:tblGrid>"#,
    );
    for row in rows {
        xml.push_str(r#"<a:tr h="10">"#);
        for cell in *row {
            xml.push_str(&format!(
                r#"<a:tc><a:txBody><a:bodyPr/>{}</a:txBody><a:tcPr/></a:tc>"#,
                para(cell)
            ));
        }
        xml.push_str("</a:tr>");
    }
    xml + "</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
}

pub fn picture(descr: &str) -> String {
    format!(
        r#"<p:pic><p:nvPicPr><p:cNvPr id="5" name="Picture 4" descr="{descr}"/><p:cNvPicPr/><p:nvPr/></p:nvPicPr><p:blipFill/><p:spPr/></p:pic>"#
    )
}

/// A deck whose presentation lists slide2.xml first, then slide1.xml, then
/// a slide whose part is missing; the first listed slide has notes.
pub fn deck() -> Vec<u8> {
    let first = slide_xml(
        "p:sld",
        &[
            // The body is drawn before the title: the title still comes first.
            shape(
                BODY,
                &[
                    para("Revenue grew 12%"),
                    para_at(1, "Mostly in &amp; around Europe"),
                    // Explicitly not bulleted.
                    r#"<a:p><a:pPr><a:buNone/></a:pPr><a:r><a:t>Plain line</a:t></a:r></a:p>"#
                        .to_owned(),
                ]
                .concat(),
            ),
            shape(TITLE, &para("Quarterly results")),
            table(&[&["Region", "Sales"], &["EMEA", "4 | 5"], &["APAC", "3"]]),
            picture("Bar chart of sales by region"),
            shape(r#"<p:ph type="sldNum" sz="quarter" idx="12"/>"#, &para("1")),
        ]
        .concat(),
    );
    let second = slide_xml(
        "p:sld",
        &[
            shape(r#"<p:ph type="ctrTitle"/>"#, &para("Next steps")),
            // A text box: not a placeholder, so not bulleted by default...
            shape("", &[para("Hire two engineers"), para("Open an office")].concat()),
            // ...unless it says so.
            shape(
                "",
                r#"<a:p><a:pPr><a:buChar char="•"/></a:pPr><a:r><a:t>Bulleted</a:t></a:r><a:br/><a:r><a:t>on two lines</a:t></a:r></a:p>"#,
            ),
            // Alternate content: the fallback repeats the choice.
            r#"<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><mc:Choice Requires="p14">"#.to_owned()
                + &shape("", &para("Chosen text"))
                + "</mc:Choice><mc:Fallback>"
                + &shape("", &para("Fallback text"))
                + "</mc:Fallback></mc:AlternateContent>",
        ]
        .concat(),
    );
    let notes = slide_xml(
        "p:notes",
        &[
            shape(r#"<p:ph type="sldImg"/>"#, ""),
            shape(
                r#"<p:ph type="body" idx="1"/>"#,
                &[para("Mention the EMEA launch."), para("Keep it short.")].concat(),
            ),
            shape(r#"<p:ph type="sldNum" idx="5"/>"#, &para("1")),
        ]
        .concat(),
    );
    let presentation = format!(
        r#"<?xml version="1.0"?><p:presentation {PML}><p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/><p:sldId id="258" r:id="rId4"/></p:sldIdLst></p:presentation>"#
    );
    let files: [(&str, String); 8] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#.to_owned(),
        ),
        (
            "_rels/.rels",
            rels(&[("rId1", "officeDocument", "ppt/presentation.xml")]),
        ),
        ("ppt/presentation.xml", presentation),
        (
            "ppt/_rels/presentation.xml.rels",
            rels(&[
                ("rId1", "slideMaster", "slideMasters/slideMaster1.xml"),
                ("rId2", "slide", "slides/slide1.xml"),
                ("rId3", "slide", "slides/slide2.xml"),
                ("rId4", "slide", "slides/slide3.xml"),
            ]),
        ),
        ("ppt/slides/slide1.xml", second),
        ("ppt/slides/slide2.xml", first),
        (
            "ppt/slides/_rels/slide2.xml.rels",
            rels(&[
                ("rId1", "slideLayout", "../slideLayouts/slideLayout2.xml"),
                ("rId2", "notesSlide", "../notesSlides/notesSlide1.xml"),
            ]),
        ),
        ("ppt/notesSlides/notesSlide1.xml", notes),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, x)| (*n, x.as_bytes())).collect();
    zip_of(&files)
}

pub fn w_para(props: &str, text: &str) -> String {
    format!(r#"<w:p><w:pPr>{props}</w:pPr><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#)
}

pub fn styled(style: &str, text: &str) -> String {
    w_para(&format!(r#"<w:pStyle w:val="{style}"/>"#), text)
}

pub fn listed(level: u32, text: &str) -> String {
    w_para(
        &format!(
            r#"<w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="3"/></w:numPr>"#
        ),
        text,
    )
}

pub fn w_table(rows: &[&[&str]]) -> String {
    let mut xml = String::from(r#"<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr>"#);
    for row in rows {
        xml.push_str("<w:tr>");
        for cell in *row {
            // "<2>" marks a cell spanning two columns.
            let (span, text) = match cell.strip_prefix("<2>") {
                Some(text) => (r#"<w:gridSpan w:val="2"/>"#, text),
                None => ("", *cell),
            };
            xml.push_str(&format!(
                "<w:tc><w:tcPr>{span}</w:tcPr>{}</w:tc>",
                w_para("", text)
            ));
        }
        xml.push_str("</w:tr>");
    }
    xml + "</w:tbl>"
}

pub fn docx(body: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let document = document_xml(body);
    let mut files: Vec<(&str, &[u8])> = vec![("word/document.xml", document.as_bytes())];
    files.extend(extra.iter().map(|(n, x)| (*n, x.as_bytes())));
    zip_of(&files)
}

pub const ODF_NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:xlink="http://www.w3.org/1999/xlink""#;

pub fn odf(mimetype: &str, body: &str, manifest: Option<&str>) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} office:version="1.3"><office:automatic-styles/><office:body>{body}</office:body></office:document-content>"#
    );
    let mut files: Vec<(&str, &[u8])> = vec![
        ("mimetype", mimetype.as_bytes()),
        ("content.xml", content.as_bytes()),
    ];
    if let Some(manifest) = manifest {
        files.push(("META-INF/manifest.xml", manifest.as_bytes()));
    }
    zip_of(&files)
}

/// The files of a zip archive, in order.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive =
        ZipArchive::new(std::io::Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap_or_else(|e| panic!("{e}"));
            let mut data = Vec::new();
            file.read_to_end(&mut data)
                .unwrap_or_else(|e| panic!("{e}"));
            let name = file.name().map(|n| n.into_owned()).unwrap_or_default();
            (name, data)
        })
        .collect()
}

/// A DOCX with a title, headings, a hyperlink, list items, a tracked
/// deletion, an image in alternate content, and a table with a merged cell.
pub fn handbook() -> Vec<u8> {
    let body = [
        styled("Title", "Employee handbook"),
        styled("Heading1", "Getting started"),
        w_para(
            // Tab stops in the properties are not tabs in the text.
            r#"<w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs>"#,
            "Welcome aboard.",
        ),
        r#"<w:p><w:r><w:t xml:space="preserve">Read the </w:t></w:r><w:hyperlink r:id="rId9" w:history="1"><w:r><w:t>security policy</w:t></w:r></w:hyperlink><w:r><w:t xml:space="preserve"> and the </w:t></w:r><w:hyperlink w:anchor="faq"><w:r><w:t>FAQ</w:t></w:r></w:hyperlink><w:r><w:t>.</w:t></w:r></w:p>"#.to_owned(),
        styled("Heading2", "Your first week"),
        listed(0, "Meet your team"),
        listed(1, "Book a lunch"),
        listed(0, "Set up your laptop"),
        // Tracked deletions and the fallback of alternate content are left out.
        r#"<w:p><w:r><w:t xml:space="preserve">Badges are </w:t></w:r><w:del w:id="1" w:author="HR"><w:r><w:delText>not </w:delText></w:r></w:del><w:r><w:t>issued on day one.</w:t><w:tab/><w:t>(Desk 4)</w:t></w:r></w:p>"#.to_owned(),
        r#"<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:inline><wp:docPr id="1" name="Picture 1" descr="Office floor plan"/></wp:inline></w:drawing></mc:Choice><mc:Fallback><w:pict><w:t>fallback copy</w:t></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"#.to_owned(),
        w_table(&[&["Day", "Task", "Owner"], &["Monday", "<2>Orientation"], &["Tuesday", "Training", "HR"]]),
        "<w:sectPr/>".to_owned(),
    ]
    .concat();
    let rels_xml = rels(&[(
        "rId9",
        "hyperlink",
        "https://intranet.example.com/security policy",
    )]);
    docx(&body, &[("word/_rels/document.xml.rels", rels_xml)])
}

/// An ODP body: two pages, the first with a title (drawn after the outline),
/// nested list, table, image, page number and notes.
pub const TALK: &str = r#"<office:presentation>
<draw:page draw:name="page1">
  <draw:frame presentation:class="outline"><draw:text-box><text:list><text:list-item><text:p>Point one</text:p><text:list><text:list-item><text:p>Detail</text:p></text:list-item></text:list></text:list-item></text:list></draw:text-box></draw:frame>
  <draw:frame presentation:class="title"><draw:text-box><text:p>Roadmap  <text:span>2025</text:span></text:p></draw:text-box></draw:frame>
  <draw:frame><table:table><table:table-row><table:table-cell><text:p>Q1</text:p></table:table-cell><table:table-cell><text:p>Beta</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>Q2</text:p></table:table-cell><table:table-cell><text:p>Launch</text:p></table:table-cell></table:table-row></table:table></draw:frame>
  <draw:frame><draw:image xlink:href="Pictures/1.png"/><svg:title>Logo</svg:title><svg:desc>Company logo in blue</svg:desc></draw:frame>
  <draw:frame presentation:class="page-number"><draw:text-box><text:p>1</text:p></draw:text-box></draw:frame>
  <presentation:notes><draw:page-thumbnail/><draw:frame presentation:class="notes"><draw:text-box><text:p>Say hello.</text:p></draw:text-box></draw:frame></presentation:notes>
</draw:page>
<draw:page draw:name="page2"><draw:custom-shape><text:p>Questions?</text:p></draw:custom-shape></draw:page>
</office:presentation>"#;

/// An ODT body: headings, spaces, a tab, a link, a footnote, a list, a
/// table with a repeated empty cell, a line break and a tracked deletion.
pub const MINUTES: &str = r#"<office:text><text:sequence-decls/>
<text:h text:outline-level="1">Minutes</text:h>
<text:p>Attendees:<text:s text:c="3"/>Ana, Bo<text:tab/>and <text:a xlink:href="https://example.com/cy">Cy</text:a>.<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>FOOTNOTE</text:p></text:note-body></text:note></text:p>
<text:h text:outline-level="2">Actions</text:h>
<text:list><text:list-item><text:p>Ship it</text:p></text:list-item></text:list>
<table:table><table:table-column/><table:table-header-rows><table:table-row><table:table-cell><text:p>Owner</text:p></table:table-cell><table:table-cell><text:p>Due</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1000"/></table:table-row></table:table-header-rows><table:table-row><table:table-cell><text:p>Ana</text:p></table:table-cell><table:table-cell><text:p>Friday</text:p></table:table-cell></table:table-row></table:table>
<text:p>Line one<text:line-break/>line
two</text:p>
<text:tracked-changes><text:changed-region><text:deletion><text:p>DELETED</text:p></text:deletion></text:changed-region></text:tracked-changes>
</office:text>"#;
