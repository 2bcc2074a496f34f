// Photos are downscaled on the phone before they travel: long edge ≤ maxPx, JPEG.

export async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function decode(file) {
  if ("createImageBitmap" in window) {
    try {
      // from-image applies the EXIF orientation, as the server does.
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_) { /* fall back to <img> (older Safari, HEIC on some browsers) */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.decoding = "async";
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * Downscale an image file. Resolves {buffer: ArrayBuffer, type, width, height, bytes, sha256}.
 * When the browser cannot decode the file (e.g. HEIC on Android), the original bytes are kept:
 * the server accepts HEIC and re-encodes it.
 */
export async function downscale(file, maxPx = 1600, quality = 0.75) {
  let source;
  try {
    source = await decode(file);
  } catch (_) {
    const buffer = await file.arrayBuffer();
    return { buffer, type: file.type || "application/octet-stream", bytes: buffer.byteLength,
             sha256: await sha256Hex(buffer), width: 0, height: 0, original: true };
  }
  const w = source.width, h = source.height;
  const scale = Math.min(1, maxPx / Math.max(w, h));
  const cw = Math.max(1, Math.round(w * scale)), ch = Math.max(1, Math.round(h * scale));
  const canvas = document.createElement("canvas");
  canvas.width = cw;
  canvas.height = ch;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, cw, ch);
  ctx.drawImage(source, 0, 0, cw, ch);
  if (source.close) source.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  const buffer = await blob.arrayBuffer();
  return { buffer, type: "image/jpeg", width: cw, height: ch, bytes: buffer.byteLength,
           sha256: await sha256Hex(buffer) };
}
